using System.Globalization;
using System.Text;

namespace Parley.Protocol.Chat;

/// <summary>
/// The rules for nicknames and room names: 1–32 characters of Unicode letters and digits (with their combining
/// marks), <c>_</c>, <c>-</c> and <c>.</c>, NFC-normalised. Two names are the same when their keys are: the key
/// folds compatibility forms (NFKC) and case, so "Alice", "ALICE" and "Ａｌｉｃｅ" cannot be three people.
/// </summary>
public static class ChatNames
{
    public const int MaxLength = 32;

    /// <summary>Checks <paramref name="input"/> and returns its NFC form, or says in plain words what is wrong with it.</summary>
    public static bool TryNormalize(string input, out string name, out string error)
    {
        name = string.Empty;
        if (string.IsNullOrEmpty(input))
        {
            error = "a name cannot be empty";
            return false;
        }

        string normalized;
        try
        {
            normalized = input.Normalize(NormalizationForm.FormC);
        }
        catch (ArgumentException)
        {
            // Lone surrogates cannot be normalised; they are not letters either.
            error = "a name may only hold letters, digits, '_', '-' and '.'";
            return false;
        }

        int count = 0;
        bool first = true;
        foreach (Rune rune in normalized.EnumerateRunes())
        {
            count++;
            if (!IsAllowed(rune, first))
            {
                error = "a name may only hold letters, digits, '_', '-' and '.'";
                return false;
            }

            first = false;
        }

        if (count > MaxLength)
        {
            error = $"a name is at most {MaxLength} characters";
            return false;
        }

        name = normalized;
        error = string.Empty;
        return true;
    }

    /// <summary>The identity of a name for uniqueness: compatibility-folded and case-folded.</summary>
    /// <remarks>
    /// A name already in lower-case ASCII (every guest's) is its own key: the same string, not a copy that the name
    /// registry would keep for every connection.
    /// </remarks>
    public static string Key(string name) => System.Text.Ascii.IsValid(name) && !name.AsSpan().ContainsAnyInRange('A', 'Z')
        ? name
        : name.Normalize(NormalizationForm.FormKC).ToUpperInvariant().ToLowerInvariant();

    private static bool IsAllowed(Rune rune, bool first)
    {
        if (Rune.IsLetterOrDigit(rune) || rune.Value is '_' or '-' or '.')
        {
            return true;
        }

        // Scripts such as Devanagari need their combining vowel signs; a mark may not stand alone at the start.
        var category = Rune.GetUnicodeCategory(rune);
        return !first && category is UnicodeCategory.NonSpacingMark or UnicodeCategory.SpacingCombiningMark;
    }
}
