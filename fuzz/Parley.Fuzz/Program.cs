using Parley.Fuzz;
using SharpFuzz;

// parley-fuzz TARGET             run under libFuzzer (libfuzzer-dotnet starts it)
// parley-fuzz TARGET --afl       run under afl-fuzz (one input on stdin per run, through the fork server)
// parley-fuzz TARGET FILE|DIR... run every given input once and report findings, as CI does with the corpus
if (args.Length == 0 || !FuzzTargets.All.TryGetValue(args[0], out var target))
{
    Console.Error.WriteLine($"parley-fuzz: name a target: {string.Join(", ", FuzzTargets.All.Keys)}");
    return 2;
}

if (args.Length == 1)
{
    Fuzzer.LibFuzzer.Run(span => target(span));
    return 0;
}

if (args[1] == "--afl")
{
    Fuzzer.Run(stream =>
    {
        using var copy = new MemoryStream();
        stream.CopyTo(copy);
        target(copy.ToArray());
    });
    return 0;
}

int findings = 0;
int inputs = 0;
foreach (string file in args.Skip(1).SelectMany(path => Directory.Exists(path) ? Directory.EnumerateFiles(path, "*", SearchOption.AllDirectories) : [path]))
{
    inputs++;
    try
    {
        target(File.ReadAllBytes(file));
    }
    catch (Exception ex)
    {
        findings++;
        Console.Error.WriteLine($"{file}: {ex.GetType().Name}: {ex.Message}");
    }
}

Console.WriteLine($"{args[0]}: {inputs} inputs, {findings} findings");
return findings == 0 ? 0 : 1;
