using System.Buffers;
using BenchmarkDotNet.Attributes;
using Parley.Protocol.Chat;
using Parley.Server.Chat;
using Parley.Server.Connections;

namespace Parley.Benchmarks;

/// <summary>
/// One chat line relayed to a room of N members through the real hub, then every member's queue written out as
/// its writer loop would. The relay formats once and shares the bytes, so allocation per message must not grow
/// with N; the baseline formats per recipient, which is what the design avoids.
/// </summary>
[MemoryDiagnoser]
public class BroadcastBenchmarks
{
    private ChatHub _hub = null!;
    private ChatMember _sender = null!;
    private ChatMember[] _members = [];
    private readonly ArrayBufferWriter<byte> _socket = new(1 << 20);

    [Params(10, 100, 1000)]
    public int Members { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        _hub = new ChatHub(TimeProvider.System);
        _members = new ChatMember[Members];
        for (int i = 0; i < Members; i++)
        {
            _members[i] = _hub.Connect($"127.0.0.1:{10000 + i}", new OutboundQueue(long.MaxValue));
            _hub.Rename(_members[i], $"member{i}");
            _hub.AnnounceJoin(_members[i]);
        }

        _sender = _members[0];
        WriteEveryQueue();
    }

    [Benchmark(Baseline = true)]
    public long FormatPerRecipient()
    {
        var chatEvent = new ChatEvent(ChatEventType.Message, DateTimeOffset.UtcNow) { Room = "lobby", From = _sender.Name, Text = "hello there, a chat line" };
        foreach (var member in _members)
        {
            if (member != _sender)
            {
                member.Queue.TryEnqueue(ChatEventFormatter.Format(chatEvent, member.Format));
            }
        }

        return WriteEveryQueue();
    }

    [Benchmark]
    public long HubRelay()
    {
        _hub.Say(_sender, "hello there, a chat line");
        return WriteEveryQueue();
    }

    private long WriteEveryQueue()
    {
        long written = 0;
        foreach (var member in _members)
        {
            _socket.ResetWrittenCount();
            written += member.Queue.WriteQueuedTo(_socket);
        }

        return written;
    }
}
