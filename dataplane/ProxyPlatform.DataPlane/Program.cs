using System.Runtime;
using ProxyPlatform.DataPlane.Hosting;

// The data-plane worker: YARP, configured by the control plane's stream (see DataPlaneHost).
// A proxy's tail latency is its users': with DATAS off (the project file says why), this asks the
// GC to collect gen2 in the background and to block for a full collection only when memory runs short.
GCSettings.LatencyMode = GCLatencyMode.SustainedLowLatency;
var builder = DataPlaneHost.CreateBuilder(args);
builder.AddDataPlane();

var app = builder.Build();
app.MapDataPlane();
await app.RunAsync();
