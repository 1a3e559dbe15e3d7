using System.Runtime.InteropServices;

namespace ProxyPlatform.DataPlane.Configuration;

/// <summary>
/// Makes renames and new files in a directory durable: they are changes of the directory, which an
/// fsync of the file does not cover. .NET opens no directory, hence open(2) and fsync(2).
/// </summary>
internal static class DirectorySync
{
    private const int ReadOnly = 0;

    public static void Flush(string directory)
    {
        if (OperatingSystem.IsWindows())
            return;
        var fd = open(directory, ReadOnly);
        if (fd < 0)
            throw new IOException($"Could not open {directory} to flush it (errno {Marshal.GetLastPInvokeError()}).");
        try
        {
            if (fsync(fd) != 0)
                throw new IOException($"Could not flush {directory} (errno {Marshal.GetLastPInvokeError()}).");
        }
        finally
        {
            _ = close(fd);
        }
    }

    [DllImport("libc", SetLastError = true)]
    private static extern int open([MarshalAs(UnmanagedType.LPUTF8Str)] string path, int flags);

    [DllImport("libc", SetLastError = true)]
    private static extern int fsync(int fd);

    [DllImport("libc", SetLastError = true)]
    private static extern int close(int fd);
}
