using System.Text;
using System.Text.Json;
using Parley.Protocol.Chat;

namespace Parley.Protocol.Tests;

public class ChatEventFormatterTests
{
    private static readonly DateTimeOffset When = new(2026, 11, 23, 14, 0, 0, TimeSpan.Zero);

    public static TheoryData<ChatEvent, string> TextLines => new()
    {
        { new ChatEvent(ChatEventType.Message, When) { From = "alice", Text = "hi" }, "<alice> hi\n" },
        { new ChatEvent(ChatEventType.Action, When) { From = "alice", Text = "waves" }, "* alice waves\n" },
        { new ChatEvent(ChatEventType.Private, When) { From = "alice", Text = "psst" }, "*alice* psst\n" },
        { new ChatEvent(ChatEventType.Join, When) { From = "alice", Room = "lobby" }, "* alice joined #lobby\n" },
        { new ChatEvent(ChatEventType.Leave, When) { From = "alice", Room = "lobby", Text = "bye" }, "* alice left #lobby (bye)\n" },
        { new ChatEvent(ChatEventType.Nick, When) { From = "alice", To = "al" }, "* alice is now known as al\n" },
        { new ChatEvent(ChatEventType.Notice, When) { Text = "server shutting down" }, "* server shutting down\n" },
        { new ChatEvent(ChatEventType.Error, When) { Text = "line too long (max 4096 bytes)" }, "! line too long (max 4096 bytes)\n" },
        { new ChatEvent(ChatEventType.Who, When) { Room = "lobby", Members = ["alice", "张康"] }, "* members of #lobby: alice, 张康\n" },
    };

    [Theory]
    [MemberData(nameof(TextLines))]
    public void WritesTheTextFormatOfTheProtocol(ChatEvent chatEvent, string expected)
    {
        Assert.Equal(expected, Encoding.UTF8.GetString(ChatEventFormatter.FormatText(chatEvent)));
    }

    [Fact]
    public void WritesOneJsonObjectPerLineWithTheRequiredFields()
    {
        var chatEvent = new ChatEvent(ChatEventType.Message, When) { Room = "lobby", From = "张康", Text = "say \"hi\"\u0001", Id = 7 };
        byte[] line = ChatEventFormatter.FormatJson(chatEvent);
        Assert.Equal((byte)'\n', line[^1]);
        Assert.DoesNotContain((byte)'\n', line[..^1]);
        Assert.Contains("张康", Encoding.UTF8.GetString(line));

        using var json = JsonDocument.Parse(line.AsMemory(0, line.Length - 1));
        var root = json.RootElement;
        Assert.Equal("message", root.GetProperty("type").GetString());
        Assert.Equal("lobby", root.GetProperty("room").GetString());
        Assert.Equal("张康", root.GetProperty("from").GetString());
        Assert.Equal("say \"hi\"\u0001", root.GetProperty("text").GetString());
        Assert.Equal("2026-11-23T14:00:00.000Z", root.GetProperty("ts").GetString());
        Assert.Equal(7, root.GetProperty("id").GetInt64());
    }

    [Fact]
    public void JsonReadsBackIntoTheSameEvent()
    {
        var original = new ChatEvent(ChatEventType.Rooms, When) { Rooms = [new RoomCount("lobby", 2), new RoomCount("dev", 1)] };
        byte[] line = ChatEventFormatter.FormatJson(original);
        Assert.True(ChatEventParser.TryParse(line.AsSpan(0, line.Length - 1), out var parsed));
        Assert.Equal(ChatEventType.Rooms, parsed.Type);
        Assert.Equal(original.Rooms, parsed.Rooms);
        Assert.Equal(When, parsed.Timestamp);
    }

    [Theory]
    [InlineData("not json")]
    [InlineData("{\"type\":\"nonsense\"}")]
    [InlineData("[1,2]")]
    [InlineData("{\"type\":")]
    public void RejectsLinesThatAreNotEvents(string line)
    {
        Assert.False(ChatEventParser.TryParse(Encoding.UTF8.GetBytes(line), out _));
    }

    [Fact]
    public void EveryStringReadFromTheWireIsSanitised()
    {
        // Valid JSON may carry a raw DEL and escaped ESC or bidi characters (the fuzzer found the DEL).
        byte[] line = Encoding.UTF8.GetBytes("{\"type\":\"message\",\"from\":\"al\u007fice\",\"room\":\"lob\\u202eby\",\"text\":\"\\u001b[31mred\"}");
        Assert.True(ChatEventParser.TryParse(line, out var parsed));
        Assert.Equal(("alice", "lobby", "red"), (parsed.From, parsed.Room, parsed.Text));

        byte[] who = Encoding.UTF8.GetBytes("{\"type\":\"who\",\"room\":\"lobby\",\"members\":[\"b\\u0007ob\"]}");
        Assert.True(ChatEventParser.TryParse(who, out var members));
        Assert.Equal(["bob"], members.Members!);
    }
}
