using Yarp.ReverseProxy.Configuration;

// A bare YARP reverse proxy for the throughput benchmark: one catch-all route to one cluster of
// the destinations given, round robin, from a static in-memory configuration.
//   dotnet ProxyPlatform.Bench.BareYarp.dll --urls=http://127.0.0.1:PORT --Destinations=http://a,http://b,http://c
// Content root is the app's own folder (as for the worker), so its appsettings.json is found wherever it starts.
var builder = WebApplication.CreateBuilder(new WebApplicationOptions { Args = args, ContentRootPath = AppContext.BaseDirectory });
builder.WebHost.ConfigureKestrel(kestrel => kestrel.AddServerHeader = false);
var destinations = (builder.Configuration["Destinations"] ?? throw new InvalidOperationException("--Destinations=<url>,<url>,… is required"))
    .Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
builder.Services.AddReverseProxy().LoadFromMemory(
    [new RouteConfig { RouteId = "all", ClusterId = "backends", Match = new RouteMatch { Path = "{**catch-all}" } }],
    [new ClusterConfig
    {
        ClusterId = "backends",
        LoadBalancingPolicy = "RoundRobin",
        Destinations = destinations.Select((address, i) => (address, i)).ToDictionary(d => $"d{d.i + 1}", d => new DestinationConfig { Address = d.address }),
    }]);

var app = builder.Build();
app.MapReverseProxy();
app.Run();
