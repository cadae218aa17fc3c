using Parley.Protocol.Chat;

namespace Parley.Protocol.Tests;

public class ChatNamesTests
{
    [Theory]
    [InlineData("alice")]
    [InlineData("张康")]
    [InlineData("bob_2.dev-x")]
    [InlineData("Ωmega")]
    [InlineData("नमस्ते")]
    public void AcceptsLettersDigitsAndTheThreeMarks(string name)
    {
        Assert.True(ChatNames.TryNormalize(name, out string normalized, out string error), error);
        Assert.Equal(name, normalized);
    }

    [Theory]
    [InlineData("", "empty")]
    [InlineData("two words", "letters")]
    [InlineData("tab\tname", "letters")]
    [InlineData("evil\u202e", "letters")]
    [InlineData("zero\u200bwidth", "letters")]
    [InlineData("emoji🙂", "letters")]
    [InlineData("abcdefghijabcdefghijabcdefghijabc", "at most 32")]
    public void RefusesOtherNamesSayingWhy(string name, string reason)
    {
        Assert.False(ChatNames.TryNormalize(name, out _, out string error));
        Assert.Contains(reason, error);
    }

    [Fact]
    public void NormalisesToNfc()
    {
        Assert.True(ChatNames.TryNormalize("e\u0301mile", out string name, out _));
        Assert.Equal("\u00e9mile", name);
    }

    [Theory]
    [InlineData("Alice", "alice")]
    [InlineData("ALICE", "alice")]
    [InlineData("Ａｌｉｃｅ", "alice")]
    [InlineData("\u00e9mile", "e\u0301mile")]
    public void KeysAreEqualForNamesThatLookTheSame(string one, string other)
    {
        Assert.Equal(ChatNames.Key(one), ChatNames.Key(other));
    }

    [Fact]
    public void KeysDifferForDifferentNames()
    {
        Assert.NotEqual(ChatNames.Key("alice"), ChatNames.Key("alicia"));
    }

    [Theory]
    [InlineData("guest-19000")]
    [InlineData("bob_2.dev-x")]
    public void ANameInLowerCaseAsciiIsItsOwnKeyNotACopy(string name)
    {
        // The name registry keeps one key per connection: a guest's must not be a second string.
        Assert.Same(name, ChatNames.Key(name));
    }

    [Theory]
    [InlineData("Guest-1", "guest-1")]
    [InlineData("ALICE", "alice")]
    [InlineData("Ａｌｉｃｅ", "alice")]
    [InlineData("émile", "émile")]
    public void ANameWithCapitalsOrBeyondAsciiIsStillFolded(string name, string key)
    {
        Assert.Equal(key.Normalize(System.Text.NormalizationForm.FormKC), ChatNames.Key(name));
    }
}
