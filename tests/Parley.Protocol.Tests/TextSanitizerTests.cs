using System.Text;
using Parley.Protocol.Text;

namespace Parley.Protocol.Tests;

public class TextSanitizerTests
{
    [Theory]
    [InlineData("plain text", "plain text")]
    [InlineData("tab\tkept", "tab\tkept")]
    [InlineData("\u001b[31mred\u001b[0m", "red")]
    [InlineData("\u001b[2J\u001b[Hwiped", "wiped")]
    [InlineData("\u001b]0;evil title\u0007after", "after")]
    [InlineData("\u001b]8;;http://x\u001b\\link\u001b]8;;\u001b\\", "link")]
    [InlineData("\u001bPdevice\u001b\\ok", "ok")]
    [InlineData("\u009b31mc1", "c1")]
    [InlineData("bell\u0007 and backspace\b and cr\r", "bell and backspace and cr")]
    [InlineData("abc\u202edcba", "abcdcba")]
    [InlineData("\u2066isolate\u2069", "isolate")]
    [InlineData("张康 says hi", "张康 says hi")]
    [InlineData("\u001b(Bcharset", "charset")]
    [InlineData("trailing escape\u001b", "trailing escape")]
    [InlineData("\u001b\U0001F600 emoji after ESC keeps both halves", "\U0001F600 emoji after ESC keeps both halves")]
    [InlineData("\u001b(\U0001F600 and after a designation", "\U0001F600 and after a designation")]
    [InlineData("\u001b7saved cursor", "saved cursor")]
    public void RemovesControlsEscapesAndBidiOverrides(string input, string expected)
    {
        Assert.Equal(expected, TextSanitizer.Sanitize(Encoding.UTF8.GetBytes(input)));
    }

    [Fact]
    public void ReplacesInvalidUtf8WithTheReplacementCharacter()
    {
        byte[] bytes = [(byte)'a', 0xff, (byte)'b', 0xe5, 0xbc, (byte)'c'];
        string result = TextSanitizer.Sanitize(bytes);
        Assert.Equal("a\ufffdb\ufffdc", result);
    }

    [Fact]
    public void DecodesACharacterSplitAcrossSegments()
    {
        byte[] zhang = Encoding.UTF8.GetBytes("张康");
        var sequence = SegmentedSequence.Create(zhang[..2], zhang[2..4], zhang[4..]);
        Assert.Equal("张康", TextSanitizer.Sanitize(sequence));
    }

    [Fact]
    public void RawSanitizerKeepsTextAndLineEndsButDropsOtherControlBytes()
    {
        byte[] input = [.. "hi\t\u001b[31m\r\n"u8, 0x00, 0x7f, .. Encoding.UTF8.GetBytes("张")];
        Assert.Equal([.. "hi\t[31m\r\n"u8, .. Encoding.UTF8.GetBytes("张")], RawSanitizer.Sanitize(input));
    }
}
