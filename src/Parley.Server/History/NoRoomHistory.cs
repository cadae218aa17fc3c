using Parley.Protocol.Chat;

namespace Parley.Server.History;

/// <summary><c>--history off</c>: nothing is kept. Ids still never restart within the process (the bus numbers them).</summary>
internal sealed class NoRoomHistory : IRoomHistory
{
    public bool IsAvailable => true;

    // Keeps nothing, so loses nothing: never raised.
    public event Action<HistoryLoss>? LinesNotKept
    {
        add { }
        remove { }
    }

    public ValueTask<long> LastIdAsync(string roomKey, CancellationToken cancellation = default) => ValueTask.FromResult(0L);

    public void Append(string roomKey, ChatEvent line)
    {
    }

    public ValueTask<IReadOnlyList<ChatEvent>> ReadAsync(string roomKey, HistoryQuery query, CancellationToken cancellation = default) =>
        ValueTask.FromResult<IReadOnlyList<ChatEvent>>([]);

    public ValueTask<ChatEvent?> TopicAsync(string roomKey, CancellationToken cancellation = default) => ValueTask.FromResult<ChatEvent?>(null);

    public ValueTask DisposeAsync() => ValueTask.CompletedTask;
}
