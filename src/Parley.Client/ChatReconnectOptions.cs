namespace Parley.Client;

/// <summary>How a <see cref="ChatClient"/> comes back after its connection drops or the server restarts.</summary>
public sealed class ChatReconnectOptions
{
    /// <summary>Reconnect and resume by itself. Defaults to true; false ends the event stream when the connection does.</summary>
    public bool Enabled { get; init; } = true;

    /// <summary>
    /// The first wait before reconnecting; each failed attempt doubles it up to <see cref="MaxDelay"/>. Every wait is
    /// jittered (half to all of it), so the clients of a restarted server do not all knock at once. Defaults to 0.5 s.
    /// </summary>
    public TimeSpan InitialDelay { get; init; } = TimeSpan.FromSeconds(0.5);

    /// <summary>The longest wait between attempts. Defaults to 30 s, as irssi's and WeeChat's order of magnitude.</summary>
    public TimeSpan MaxDelay { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>
    /// How long the client keeps asking for its name back while the server still holds it for the old connection
    /// (a dropped link is noticed by the server only when it writes or times out); after that it takes the name
    /// with a digit. Defaults to 5 s.
    /// </summary>
    public TimeSpan NameWait { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>
    /// The most one attempt (connect, name, room, history) may take before it counts as failed. Defaults to 15 s.
    /// </summary>
    public TimeSpan AttemptTimeout { get; init; } = TimeSpan.FromSeconds(15);

    /// <summary>
    /// Other servers of the same chat (nodes of one <c>parley serve --redis</c> cluster). When the link drops, each
    /// attempt tries the next server in turn, the one after the server that was lost first; the client resumes there
    /// as on its own server, since ids and history are the same on every node. Defaults to none.
    /// </summary>
    public IReadOnlyList<HostPort> OtherServers { get; init; } = [];

    public static ChatReconnectOptions Disabled { get; } = new() { Enabled = false };
}

/// <summary>Where a reconnecting <see cref="ChatClient"/> is: waiting for its next attempt, or back.</summary>
public enum ChatConnectionState
{
    Reconnecting,
    Resumed,
}

/// <summary>What <see cref="ChatClient.ConnectionChanged"/> reports, for a one-line status.</summary>
public sealed record ChatConnectionStatus(ChatConnectionState State)
{
    /// <summary>Reconnecting: which attempt comes next (1 for the first after the loss).</summary>
    public int Attempt { get; init; }

    /// <summary>Reconnecting: how long until that attempt.</summary>
    public TimeSpan Delay { get; init; }

    /// <summary>Reconnecting: the server said it was shutting down (a restart), rather than the link dropping.</summary>
    public bool ServerShutDown { get; init; }

    /// <summary>Resumed: the name held now (null for a guest), and whether it differs from the one wanted.</summary>
    public string? Name { get; init; }

    public bool NameTaken { get; init; }

    /// <summary>Resumed: the room the client is in again.</summary>
    public string Room { get; init; } = string.Empty;

    /// <summary>Resumed: room lines said while the client was away, now delivered as history.</summary>
    public int Missed { get; init; }
}
