using System.Collections.Concurrent;

namespace ProxyPlatform.ControlPlane.Hosting;

/// <summary>
/// References to grains of one interface, made once per key. <c>GetGrain</c> resolves the
/// interface's grain type on every call, which showed as ~5% of a silo's CPU while loading routes;
/// a reference, once made, stays valid wherever and however often its grain activates.
/// </summary>
public sealed class GrainReferences<TGrain>(IGrainFactory grains) where TGrain : IGrainWithStringKey
{
    private readonly ConcurrentDictionary<string, TGrain> _byKey = new(StringComparer.Ordinal);

    public TGrain this[string key] => _byKey.GetOrAdd(key, static (k, factory) => factory.GetGrain<TGrain>(k), grains);
}
