using System.CommandLine;
using System.CommandLine.Parsing;
using System.Text.RegularExpressions;

namespace Parley.Cli;

/// <summary>
/// System.CommandLine's parse errors in a user's words. Its own say "Required command was not provided" for a
/// misspelt command and name .NET types ("expected type 'System.Nullable`1[System.Int32]'"); the user typed a
/// command line, not a type (issue 16, item 10). Every error of every command goes through here, so the wording
/// holds for options added later too.
/// </summary>
internal static partial class ParseErrors
{
    /// <summary>One line: what is wrong, and where to read more.</summary>
    public static string Describe(ParseResult parsed)
    {
        string command = CommandPath(parsed.CommandResult);
        // A misspelt command yields two errors, "unrecognized 'frobnicate'" and "required command"; the first is the news.
        var error = parsed.Errors.FirstOrDefault(e => UnrecognizedPattern().IsMatch(e.Message)) ?? parsed.Errors[0];
        return $"{Reword(error, parsed.CommandResult)} (see '{command} --help')";
    }

    private static string Reword(ParseError error, CommandResult where)
    {
        string message = string.Join(' ', error.Message.Split(['\n', '\r', '\t'], StringSplitOptions.RemoveEmptyEntries).Select(part => part.Trim()));
        if (UnrecognizedPattern().Match(message) is { Success: true } unrecognized)
        {
            string token = unrecognized.Groups["token"].Value;
            if (token.StartsWith('-'))
            {
                return $"unknown option '{token}'";
            }

            return where.Command.Subcommands.Count > 0
                ? $"unknown command '{token}' (one of: {Names(where.Command)})"
                : $"unexpected argument '{token}'";
        }

        if (message.StartsWith("Required command was not provided", StringComparison.Ordinal))
        {
            return $"no command given (one of: {Names(where.Command)})";
        }

        if (MissingArgumentPattern().IsMatch(message))
        {
            var missing = where.Command.Arguments.Select(a => a.Name).FirstOrDefault() ?? "an argument";
            return $"{missing} is missing";
        }

        if (CannotParsePattern().Match(message) is { Success: true } cannot)
        {
            string value = cannot.Groups["value"].Value;
            string symbol = cannot.Groups["symbol"].Value;
            var valueType = (error.SymbolResult as OptionResult)?.Option.ValueType ?? (error.SymbolResult as ArgumentResult)?.Argument.ValueType;
            return $"'{value}' is not {Expected(valueType)} for {symbol}";
        }

        if (NotAmongPattern().Match(message) is { Success: true } notAmong)
        {
            string symbol = error.SymbolResult is OptionResult option ? $" for {option.Option.Name}" : string.Empty;
            return $"'{notAmong.Groups["value"].Value}' is not valid{symbol}: use one of {notAmong.Groups["choices"].Value.Replace("' '", "', '", StringComparison.Ordinal)}";
        }

        return message.TrimEnd('.');
    }

    // What a value of this type looks like, in words: never the type's name.
    private static string Expected(Type? type)
    {
        var plain = type is null ? null : Nullable.GetUnderlyingType(type) ?? type;
        if (plain is null)
        {
            return "a valid value";
        }

        if (plain.IsEnum)
        {
            return $"one of {string.Join(", ", Enum.GetNames(plain).Select(n => n.ToLowerInvariant()))}";
        }

        if (plain == typeof(int) || plain == typeof(long) || plain == typeof(short) || plain == typeof(uint) || plain == typeof(ushort))
        {
            return "a whole number";
        }

        if (plain == typeof(double) || plain == typeof(float) || plain == typeof(decimal))
        {
            return "a number";
        }

        if (plain == typeof(bool))
        {
            return "true or false";
        }

        return "a valid value";
    }

    private static string Names(Command command) => string.Join(", ", command.Subcommands.Where(c => !c.Hidden).Select(c => c.Name));

    private static string CommandPath(CommandResult result)
    {
        var names = new List<string>();
        for (SymbolResult? at = result; at is not null; at = at.Parent)
        {
            if (at is CommandResult { Command: var command } && command is not RootCommand)
            {
                names.Add(command.Name);
            }
        }

        names.Add("parley");
        names.Reverse();
        return string.Join(' ', names);
    }

    [GeneratedRegex(@"^Unrecognized command or argument '(?<token>.*)'")]
    private static partial Regex UnrecognizedPattern();

    [GeneratedRegex(@"^Required argument missing")]
    private static partial Regex MissingArgumentPattern();

    [GeneratedRegex(@"^Cannot parse argument '(?<value>.*)' for (option|command|argument) '(?<symbol>[^']*)'")]
    private static partial Regex CannotParsePattern();

    [GeneratedRegex(@"^Argument '(?<value>.*)' not recognized\. Must be one of: (?<choices>.*)$")]
    private static partial Regex NotAmongPattern();
}
