namespace ProxyPlatform.ControlPlane.Distribution;

/// <summary>
/// A configuration grain's commit whose answer was lost (a silo or PostgreSQL went away mid-call)
/// may have been committed even so: the grain then deactivates, so that its next call reloads its
/// rows instead of trusting what it held. A refusal (<see cref="AdminException"/>) changed nothing.
/// </summary>
public static class LostAnswers
{
    public static async Task<T> CommitAsync<T>(this IGrainBase grain, Func<Task<T>> commit)
    {
        try
        {
            return await commit();
        }
        catch (Exception ex) when (ex is not AdminException)
        {
            grain.DeactivateOnIdle();
            throw;
        }
    }
}
