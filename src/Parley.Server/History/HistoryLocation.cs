namespace Parley.Server.History;

/// <summary>Where the SQLite history file lives when <c>--history</c> names no path.</summary>
public static class HistoryLocation
{
    public const string FileName = "history.db";

    /// <summary>
    /// Beside the configuration file when the server was given one (a deployment keeps its state together), else in
    /// the user's data directory: <c>$XDG_DATA_HOME/parley/history.db</c>, or <c>~/.local/share/parley/history.db</c>
    /// (on Windows, <c>%LOCALAPPDATA%\parley\history.db</c>).
    /// </summary>
    public static string Default(string? configFilePath) =>
        Default(configFilePath, Environment.GetEnvironmentVariable("XDG_DATA_HOME"), Environment.GetFolderPath(Environment.SpecialFolder.UserProfile));

    internal static string Default(string? configFilePath, string? xdgDataHome, string? home)
    {
        if (!string.IsNullOrEmpty(configFilePath))
        {
            string directory = Path.GetDirectoryName(Path.GetFullPath(configFilePath)) ?? Directory.GetCurrentDirectory();
            return Path.Combine(directory, FileName);
        }

        if (OperatingSystem.IsWindows())
        {
            return Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.LocalApplicationData), "parley", FileName);
        }

        // The XDG base directory spec says a relative XDG_DATA_HOME is invalid and must be ignored.
        if (!string.IsNullOrEmpty(xdgDataHome) && Path.IsPathRooted(xdgDataHome))
        {
            return Path.Combine(xdgDataHome, "parley", FileName);
        }

        if (string.IsNullOrEmpty(home))
        {
            throw new HistoryUnavailableException("history: no home directory to keep the history file in; name one with --history PATH");
        }

        return Path.Combine(home, ".local", "share", "parley", FileName);
    }
}
