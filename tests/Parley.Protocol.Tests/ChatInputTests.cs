using Parley.Protocol.Chat;

namespace Parley.Protocol.Tests;

public class ChatInputTests
{
    [Theory]
    [InlineData("hello", ChatInputKind.Message, "hello", "")]
    [InlineData("//nick is a command", ChatInputKind.Message, "/nick is a command", "")]
    [InlineData("exit", ChatInputKind.Quit, "", "")]
    [InlineData("exit now", ChatInputKind.Message, "exit now", "")]
    [InlineData("/say exit", ChatInputKind.Message, "exit", "")]
    [InlineData("/SAY  two  spaces kept ", ChatInputKind.Message, " two  spaces kept ", "")]
    [InlineData("/nick 张康", ChatInputKind.Nick, "张康", "")]
    [InlineData("/NICK al", ChatInputKind.Nick, "al", "")]
    [InlineData("/join #dev", ChatInputKind.Join, "#dev", "")]
    [InlineData("/who", ChatInputKind.Who, "", "")]
    [InlineData("/rooms", ChatInputKind.Rooms, "", "")]
    [InlineData("/msg bob  hi there", ChatInputKind.Private, "bob", "hi there")]
    [InlineData("/me waves", ChatInputKind.Action, "", "waves")]
    [InlineData("/format json", ChatInputKind.Format, "json", "")]
    [InlineData("/help", ChatInputKind.Help, "", "")]
    [InlineData("/quit gone fishing", ChatInputKind.Quit, "", "gone fishing")]
    [InlineData("/ping t1", ChatInputKind.Ping, "", "t1")]
    [InlineData("/dance wildly", ChatInputKind.Unknown, "dance", "wildly")]
    public void ParsesEveryCommand(string line, ChatInputKind kind, string argument, string text)
    {
        Assert.Equal(new ChatInput(kind, argument, text), ChatInput.Parse(line));
    }
}
