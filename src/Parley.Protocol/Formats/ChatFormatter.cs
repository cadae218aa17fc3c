using Parley.Protocol.Chat;

namespace Parley.Protocol.Formats;

/// <summary>
/// One way of writing events to a connection (text, JSON, later IRC). A message is formatted once per formatter in
/// use and the same bytes go to every recipient with that formatter, so a formatter must not depend on who receives.
/// </summary>
/// <remarks>
/// Each formatter has a small <see cref="Slot"/> by which a message caches its bytes. Slots are handed out for the
/// life of the process, so formatters are singletons: never create one per connection.
/// </remarks>
public abstract class ChatFormatter
{
    private static int _lastSlot = -1;

    protected ChatFormatter(string name)
    {
        Name = name;
        Slot = Interlocked.Increment(ref _lastSlot);
    }

    /// <summary>The name users give it: <c>/format text</c>.</summary>
    public string Name { get; }

    /// <summary>This formatter's index in a message's cache of formatted bytes.</summary>
    public int Slot { get; }

    /// <summary>How many slots have been handed out: the size a message's cache needs.</summary>
    public static int SlotCount => Volatile.Read(ref _lastSlot) + 1;

    /// <summary>The event as wire bytes, with its line ending.</summary>
    public abstract byte[] Format(ChatEvent chatEvent);

    /// <summary>Whether readers in this format get IRC's client-only tags, and TAGMSG (<see cref="ChatEvent.ClientTags"/>).</summary>
    public virtual bool TakesClientTags => false;
}

/// <summary>The line protocol's text format: <c>&lt;alice&gt; hi</c>.</summary>
public sealed class TextFormatter : ChatFormatter
{
    public static readonly TextFormatter Instance = new();

    private TextFormatter()
        : base("text")
    {
    }

    public override byte[] Format(ChatEvent chatEvent) => ChatEventFormatter.FormatText(chatEvent);
}

/// <summary>One JSON object per line (docs/protocol.md); also the WebSocket's frames.</summary>
public sealed class JsonFormatter : ChatFormatter
{
    public static readonly JsonFormatter Instance = new();

    private JsonFormatter()
        : base("json")
    {
    }

    public override byte[] Format(ChatEvent chatEvent) => ChatEventFormatter.FormatJson(chatEvent);
}
