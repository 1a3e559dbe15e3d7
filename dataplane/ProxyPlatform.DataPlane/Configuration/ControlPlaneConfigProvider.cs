using System.Globalization;
using Microsoft.Extensions.Primitives;
using Yarp.ReverseProxy.Configuration;

namespace ProxyPlatform.DataPlane.Configuration;

/// <summary>
/// Feeds YARP the configuration the control plane sent. It holds one immutable
/// <see cref="IProxyConfig"/>; <see cref="Update"/> swaps in a new one and then expires the old
/// one's change token, which makes YARP reload. Empty until a configuration is applied.
/// </summary>
public sealed class ControlPlaneConfigProvider : IProxyConfigProvider
{
    private volatile RevisionConfig _config = new(0, YarpConfig.Empty);

    public IProxyConfig GetConfig() => _config;

    /// <summary>Serves <paramref name="config"/> from now on: YARP reloads from the old token's callback.</summary>
    public void Update(long revision, YarpConfig config)
    {
        var previous = Interlocked.Exchange(ref _config, new RevisionConfig(revision, config));
        previous.Expire();
    }

    private sealed class RevisionConfig : IProxyConfig
    {
        private readonly CancellationTokenSource _expired = new();
        private readonly YarpConfig _config;

        public RevisionConfig(long revision, YarpConfig config)
        {
            _config = config;
            RevisionId = revision.ToString(CultureInfo.InvariantCulture);
            ChangeToken = new CancellationChangeToken(_expired.Token);
        }

        public string RevisionId { get; }
        public IReadOnlyList<RouteConfig> Routes => _config.Routes;
        public IReadOnlyList<ClusterConfig> Clusters => _config.Clusters;
        public IChangeToken ChangeToken { get; }

        public void Expire() => _expired.Cancel();
    }
}
