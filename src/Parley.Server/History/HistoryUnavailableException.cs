namespace Parley.Server.History;

/// <summary>
/// The history store cannot be used: a corrupt file, one held by another server, a read-only place or a full disk.
/// The message is one line for the user (the command line prints it and exits 2), so it names the file and what to
/// do, never a .NET type; the cause, if any, is kept for the log.
/// </summary>
public sealed class HistoryUnavailableException : Exception
{
    public HistoryUnavailableException(string message)
        : base(message)
    {
    }

    public HistoryUnavailableException(string message, Exception? innerException)
        : base(message, innerException)
    {
    }

    public HistoryUnavailableException()
    {
    }
}
