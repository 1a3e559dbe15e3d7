using System.Runtime;
using ProxyPlatform.DataPlane.Hosting;

// The data-plane worker: YARP, configured by the control plane's stream (see DataPlaneHost).
// A proxy's tail latency is its users': no full blocking GC unless memory runs short. Without this,
// the server GC chose a blocking, compacting gen2 after a large configuration had been replaced
// (80-130 ms on 2 cores, docs/benchmarks.md); now gen2 runs in the background next to the requests.
GCSettings.LatencyMode = GCLatencyMode.SustainedLowLatency;
var builder = DataPlaneHost.CreateBuilder(args);
builder.AddDataPlane();

var app = builder.Build();
app.MapDataPlane();
await app.RunAsync();
