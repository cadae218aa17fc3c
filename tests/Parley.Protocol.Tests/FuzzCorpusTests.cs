using Parley.Fuzz;

namespace Parley.Protocol.Tests;

/// <summary>
/// Every input in fuzz/corpus goes through its fuzz target on each CI run: the seeds, and every finding of a longer
/// fuzzing run (fuzz/run.sh), kept there as a regression.
/// </summary>
public class FuzzCorpusTests
{
    public static TheoryData<string> Targets() => [.. FuzzTargets.All.Keys];

    [Theory]
    [MemberData(nameof(Targets))]
    public void EveryCorpusInputKeepsTheTargetsInvariants(string target)
    {
        var inputs = Directory.GetFiles(Path.Combine(CorpusDirectory(), target));
        Assert.NotEmpty(inputs);
        foreach (string input in inputs)
        {
            var problem = Record.Exception(() => FuzzTargets.All[target](File.ReadAllBytes(input)));
            Assert.True(problem is null, $"{Path.GetFileName(input)}: {problem?.Message}");
        }
    }

    private static string CorpusDirectory()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            string candidate = Path.Combine(dir.FullName, "fuzz", "corpus");
            if (Directory.Exists(candidate))
            {
                return candidate;
            }
        }

        throw new DirectoryNotFoundException($"fuzz/corpus not found above {AppContext.BaseDirectory}");
    }
}
