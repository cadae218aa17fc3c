using System.Text;
using Parley.Protocol.Chat;
using Parley.Protocol.Formats;
using Parley.Protocol.Framing;

namespace Parley.Protocol.Tests;

public class IrcMessageTests
{
    private static readonly DateTimeOffset When = new(2026, 11, 29, 19, 40, 12, 345, TimeSpan.Zero);

    private static IrcMessage Parse(string line)
    {
        Assert.Equal(IrcParseResult.Message, IrcMessage.TryParse(Encoding.UTF8.GetBytes(line), out var message));
        return message!;
    }

    [Fact]
    public void ParsesTagsSourceCommandAndTrailingParameter()
    {
        var message = Parse(@"@label=abc;+draft/reply=dev:4;time=2026\s11\:x\\y :alice!a@h privmsg #dev :hi  there");
        Assert.Equal("PRIVMSG", message.Command);
        Assert.Equal("alice!a@h", message.Source);
        Assert.Equal(["#dev", "hi  there"], message.Parameters);
        Assert.Equal("abc", message.Tags["label"]);
        Assert.Equal("dev:4", message.Tags["+draft/reply"]);
        Assert.Equal(@"2026 11;x\y", message.Tags["time"]);
    }

    [Theory]
    [InlineData("NICK alice", new[] { "alice" })]
    [InlineData("USER u 0 * :Real Name", new[] { "u", "0", "*", "Real Name" })]
    [InlineData("PRIVMSG #dev ::-)", new[] { "#dev", ":-)" })]
    [InlineData("TOPIC #dev :", new[] { "#dev", "" })]
    [InlineData("JOIN   #a,#b    key ", new[] { "#a,#b", "key" })]
    [InlineData("QUIT", new string[0])]
    public void SplitsParametersAsRfc1459Says(string line, string[] expected)
    {
        Assert.Equal(expected, Parse(line).Parameters);
    }

    [Theory]
    [InlineData("")]
    [InlineData("   ")]
    [InlineData("@a=b")]
    [InlineData(":source")]
    public void LinesWithoutACommandAreEmpty(string line)
    {
        Assert.Equal(IrcParseResult.Empty, IrcMessage.TryParse(Encoding.UTF8.GetBytes(line), out _));
    }

    [Fact]
    public void AllowsFiveHundredTwelveBytesOfMessageAndFourKilobytesOfClientTagsButNoMore()
    {
        string body = "PRIVMSG #dev :" + new string('x', 510 - 14);
        string tags = "@" + new string('t', 4094) + " ";
        Assert.Equal(IrcParseResult.Message, IrcMessage.TryParse(Encoding.UTF8.GetBytes(tags + body), out _));
        Assert.Equal(IrcParseResult.TooLong, IrcMessage.TryParse(Encoding.UTF8.GetBytes(body + "x"), out _));
        Assert.Equal(IrcParseResult.TooLong, IrcMessage.TryParse(Encoding.UTF8.GetBytes("@t" + tags[1..] + body), out _));
        Assert.True(IrcMessage.MaxLineBytes >= Encoding.UTF8.GetByteCount(tags + body));
    }

    [Fact]
    public void FormatsTheLastParameterWithAColonOnlyWhenItNeedsOne()
    {
        Assert.Equal(":parley 001 alice :Welcome here\r\n", Encoding.UTF8.GetString(IrcMessage.Format(null, "parley", "001", "alice", "Welcome here")));
        Assert.Equal(":a!a@parley PART #dev bye\r\n", Encoding.UTF8.GetString(IrcMessage.Format(null, "a!a@parley", "PART", "#dev", "bye")));
        Assert.Equal("PRIVMSG #dev ::-)\r\n", Encoding.UTF8.GetString(IrcMessage.Format(null, null, "PRIVMSG", "#dev", ":-)")));
        Assert.Equal("TOPIC #dev :\r\n", Encoding.UTF8.GetString(IrcMessage.Format(null, null, "TOPIC", "#dev", "")));
    }

    [Fact]
    public void FormattingEscapesTagValuesAndCannotBeMadeToEndTheLine()
    {
        byte[] line = IrcMessage.Format([new("label", "a b;c\\d"), new("draft/bot", "")], null, "PRIVMSG", "#dev", "one\r\nQUIT :two");
        Assert.Equal("@label=a\\sb\\:c\\\\d;draft/bot PRIVMSG #dev :one  QUIT :two\r\n", Encoding.UTF8.GetString(line));
        var back = Parse(Encoding.UTF8.GetString(line)[..^2]);
        Assert.Equal("a b;c\\d", back.Tags["label"]);
    }

    [Theory]
    [InlineData("\u0001ACTION waves\u0001", "ACTION", "waves")]
    [InlineData("\u0001ACTION waves", "ACTION", "waves")]
    [InlineData("\u0001version\u0001", "VERSION", "")]
    public void ReadsCtcp(string text, string command, string arguments)
    {
        Assert.True(IrcCtcp.TryParse(text, out string parsedCommand, out string parsedArguments));
        Assert.Equal((command, arguments), (parsedCommand, parsedArguments));
        Assert.False(IrcCtcp.TryParse("ACTION waves", out _, out _));
    }

    public static TheoryData<ChatEvent, string> IrcLines => new()
    {
        { new ChatEvent(ChatEventType.Message, When) { Room = "dev", From = "alice", Text = "hi there", Id = 42 }, ":alice!alice@parley PRIVMSG #dev :hi there\r\n" },
        { new ChatEvent(ChatEventType.Action, When) { Room = "dev", From = "alice", Text = "waves", Id = 43 }, ":alice!alice@parley PRIVMSG #dev :\u0001ACTION waves\u0001\r\n" },
        { new ChatEvent(ChatEventType.Private, When) { From = "alice", To = "张康", Text = "psst" }, ":alice!alice@parley PRIVMSG 张康 psst\r\n" },
        { new ChatEvent(ChatEventType.Private, When) { From = "alice", To = "bob", Text = "/me nods" }, ":alice!alice@parley PRIVMSG bob :\u0001ACTION nods\u0001\r\n" },
        { new ChatEvent(ChatEventType.Join, When) { Room = "dev", From = "alice" }, ":alice!alice@parley JOIN #dev\r\n" },
        { new ChatEvent(ChatEventType.Leave, When) { Room = "dev", From = "alice", Text = "kicked by op: spam" }, ":alice!alice@parley PART #dev :kicked by op: spam\r\n" },
        { new ChatEvent(ChatEventType.Nick, When) { Room = "dev", From = "alice", To = "al" }, ":alice!alice@parley NICK al\r\n" },
        { new ChatEvent(ChatEventType.Topic, When) { Room = "dev", From = "alice", Text = "ship it" }, ":alice!alice@parley TOPIC #dev :ship it\r\n" },
        { new ChatEvent(ChatEventType.Notice, When) { Text = "server shutting down" }, ":parley NOTICE * :server shutting down\r\n" },
        { new ChatEvent(ChatEventType.Error, When) { Text = "disconnected: too slow" }, "ERROR :disconnected: too slow\r\n" },
        { new ChatEvent(ChatEventType.Message, When) { Room = "dev", From = "alice", Text = "old", Id = 1, History = true }, ":alice!alice@parley PRIVMSG #dev :[2026-11-29 19:40:12] old\r\n" },
    };

    [Theory]
    [MemberData(nameof(IrcLines))]
    public void RendersEventsAsIrcLines(ChatEvent chatEvent, string expected)
    {
        Assert.Equal(expected, Encoding.UTF8.GetString(IrcFormatter.For(serverTime: false, messageTags: false).Format(chatEvent)));
    }

    [Fact]
    public void EachCapabilitySetHasItsOwnFormatterAndTags()
    {
        var line = new ChatEvent(ChatEventType.Message, When) { Room = "dev", From = "alice", Text = "hi", Id = 42, History = true };
        Assert.Equal("@time=2026-11-29T19:40:12.345Z :alice!alice@parley PRIVMSG #dev hi\r\n", Encoding.UTF8.GetString(IrcFormatter.For(true, false).Format(line)));
        Assert.Equal("@msgid=dev:42 :alice!alice@parley PRIVMSG #dev :[2026-11-29 19:40:12] hi\r\n", Encoding.UTF8.GetString(IrcFormatter.For(false, true).Format(line)));
        Assert.Equal("@time=2026-11-29T19:40:12.345Z;msgid=dev:42 :alice!alice@parley PRIVMSG #dev hi\r\n", Encoding.UTF8.GetString(IrcFormatter.For(true, true).Format(line)));
        var slots = new[] { IrcFormatter.For(false, false), IrcFormatter.For(true, false), IrcFormatter.For(false, true), IrcFormatter.For(true, true) }.Select(f => f.Slot);
        Assert.Equal(4, slots.Distinct().Count());
        Assert.Same(IrcFormatter.For(true, true), IrcFormatter.For(true, true));
    }

    [Theory]
    [InlineData("dev:42", 42)]
    [InlineData("a:b:7", 7)]
    [InlineData("9", 9)]
    public void ReadsMessageIdsBack(string msgid, long id)
    {
        Assert.True(IrcFormatter.TryParseMessageId(msgid, out long parsed));
        Assert.Equal(id, parsed);
        Assert.False(IrcFormatter.TryParseMessageId("dev:x", out _));
    }
}
