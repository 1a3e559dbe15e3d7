using ProxyPlatform.ControlPlane.Hosting;

// Content root is the app's folder, so appsettings.json is found wherever it is started from.
var builder = WebApplication.CreateBuilder(new WebApplicationOptions { Args = args, ContentRootPath = AppContext.BaseDirectory });
builder.AddControlPlane();

var app = builder.Build();
app.MapControlPlane();
await app.MigrateStorageAsync();
await app.RunAsync();
