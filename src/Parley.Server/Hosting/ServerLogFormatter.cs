using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Logging.Console;

namespace Parley.Server.Hosting;

/// <summary>
/// The console log of <c>parley serve</c>: <c>12:00:01 info: ChatConnectionHandler[1] Accept new connection from …</c>.
/// As the simple console formatter, but the category is the type's name alone: the namespace
/// (<c>Parley.Server.Chat.</c>) took a third of every line and told an operator nothing.
/// </summary>
public sealed class ServerLogFormatter() : ConsoleFormatter(FormatterName)
{
    public const string FormatterName = "parley";

    public override void Write<TState>(in LogEntry<TState> logEntry, IExternalScopeProvider? scopeProvider, TextWriter textWriter)
    {
        string message = logEntry.Formatter(logEntry.State, logEntry.Exception);
        if (string.IsNullOrEmpty(message) && logEntry.Exception is null)
        {
            return;
        }

        textWriter.Write(DateTimeOffset.Now.ToString("HH:mm:ss ", System.Globalization.CultureInfo.InvariantCulture));
        textWriter.Write(LevelText(logEntry.LogLevel));
        textWriter.Write(": ");
        textWriter.Write(ShortCategory(logEntry.Category));
        textWriter.Write('[');
        textWriter.Write(logEntry.EventId.Id);
        textWriter.Write("] ");
        // One entry, one line, as grep and journald expect; only our own faults carry a stack trace below it.
        textWriter.WriteLine(message.ReplaceLineEndings(" "));
        if (logEntry.Exception is { } exception)
        {
            textWriter.WriteLine(exception.ToString());
        }
    }

    /// <summary><c>Parley.Server.Chat.ChatConnectionHandler</c> is <c>ChatConnectionHandler</c>.</summary>
    internal static string ShortCategory(string category)
    {
        int generic = category.IndexOf('`', StringComparison.Ordinal);
        var name = generic < 0 ? category.AsSpan() : category.AsSpan(0, generic);
        int lastDot = name.LastIndexOf('.');
        return lastDot < 0 || lastDot == name.Length - 1 ? name.ToString() : name[(lastDot + 1)..].ToString();
    }

    // The simple console formatter's four-letter names, which operators already grep for.
    private static string LevelText(LogLevel level) => level switch
    {
        LogLevel.Trace => "trce",
        LogLevel.Debug => "dbug",
        LogLevel.Information => "info",
        LogLevel.Warning => "warn",
        LogLevel.Error => "fail",
        LogLevel.Critical => "crit",
        LogLevel.None => "none",
        _ => throw new ArgumentOutOfRangeException(nameof(level), level, "unknown log level"),
    };
}
