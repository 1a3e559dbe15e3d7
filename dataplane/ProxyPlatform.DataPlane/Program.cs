using ProxyPlatform.DataPlane.Hosting;

// The data-plane worker: YARP, configured by the control plane's stream (see DataPlaneHost).
var builder = DataPlaneHost.CreateBuilder(args);
builder.AddDataPlane();

var app = builder.Build();
app.MapDataPlane();
await app.RunAsync();
