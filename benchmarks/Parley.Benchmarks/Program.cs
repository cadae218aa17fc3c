using BenchmarkDotNet.Running;

// dotnet run -c Release --project benchmarks/Parley.Benchmarks -- --filter '*'
// CI runs a smoke of every benchmark: --job Dry --inProcess (seconds, no figures).
BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args);
