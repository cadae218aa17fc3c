using System.Runtime.InteropServices;
using Microsoft.Diagnostics.Runtime;

// dotnet run -c Release --project bench/HeapWalk -- PID CONNECTIONS [TOP] [live]
// Snapshots a running .NET process (ptrace: run as the same user or root) and prints its managed heap by
// type, per connection: what each idle connection of `parley serve` costs, and whose code allocates it.
// The heap holds garbage too until the GC gets to it; with "live" only objects reachable from a root are counted
// (marked here from the runtime's roots), and the garbage is given as one figure.
if (args.Length < 2 || !int.TryParse(args[0], out int pid) || !int.TryParse(args[1], out int connections) || connections <= 0)
{
    Console.Error.WriteLine("usage: HeapWalk PID CONNECTIONS [TOP] [live]");
    return 2;
}

bool liveOnly = args.Length > 3 && args[3] == "live";

int top = args.Length > 2 && int.TryParse(args[2], out int n) ? n : 40;
using var target = DataTarget.CreateSnapshotAndAttach(pid);
var clr = target.ClrVersions[0];
// The debugging library (DAC) ships with the runtime; look for it beside the one this tool runs on.
string dac = Path.Combine(RuntimeEnvironment.GetRuntimeDirectory(), "libmscordaccore.so");
using var runtime = File.Exists(dac) ? clr.CreateRuntime(dac, ignoreMismatch: true) : clr.CreateRuntime();
HashSet<ulong>? live = liveOnly ? MarkLive(runtime.Heap) : null;
var byType = new Dictionary<string, (long Count, long Bytes)>();
var garbageByType = new Dictionary<string, (long Count, long Bytes)>();
long total = 0;
long garbage = 0;
var byGeneration = new Dictionary<string, (long Objects, long Free)>();
foreach (var item in runtime.Heap.EnumerateObjects())
{
    if (!item.IsValid)
    {
        continue;
    }

    string generation = runtime.Heap.GetSegmentByAddress(item.Address)?.GetGeneration(item.Address).ToString() ?? "?";
    var (objects, free) = byGeneration.GetValueOrDefault(generation);
    byGeneration[generation] = item.IsFree ? (objects, free + (long)item.Size) : (objects + (long)item.Size, free);
    if (item.IsFree)
    {
        continue;
    }

    string name = item.Type?.Name ?? "?";
    long size = (long)item.Size;
    if (live is not null && !live.Contains(item.Address))
    {
        garbage += size;
        garbageByType[name] = garbageByType.TryGetValue(name, out var dead) ? (dead.Count + 1, dead.Bytes + size) : (1, size);
        continue;
    }

    total += size;
    byType[name] = byType.TryGetValue(name, out var seen) ? (seen.Count + 1, seen.Bytes + size) : (1, size);
}

// Where the heap's memory is: objects and free space per generation (young ones hold garbage not yet collected),
// and what the GC has committed per kind of segment, which is what the process's resident memory sees.
foreach (var (generation, (objects, free)) in byGeneration.OrderBy(kv => kv.Key))
{
    Console.WriteLine($"{generation,-12} objects {objects / 1024,9:N0} KiB ({(double)objects / connections,6:N0} B/conn), free {free / 1024,9:N0} KiB ({(double)free / connections,6:N0} B/conn)");
}

foreach (var kind in runtime.Heap.Segments.GroupBy(segment => segment.Kind).OrderBy(g => g.Key.ToString()))
{
    long committed = kind.Sum(segment => (long)segment.CommittedMemory.Length);
    Console.WriteLine($"segments {kind.Key,-12} {kind.Count(),4}: committed {committed / 1024,9:N0} KiB ({(double)committed / connections,6:N0} B/conn)");
}

Console.WriteLine($"objects on the managed heap {total / 1024:N0} KiB, {(double)total / connections:N0} B per connection");
if (live is not null)
{
    Console.WriteLine($"of those live (reachable from a root); garbage not yet collected: {garbage / 1024:N0} KiB, {(double)garbage / connections:N0} B per connection");
}

Console.WriteLine($"{"B/conn",8} {"objects",9}  type");
foreach (var (name, (count, bytes)) in byType.OrderByDescending(kv => kv.Value.Bytes).Take(top))
{
    Console.WriteLine($"{(double)bytes / connections,8:N0} {count,9:N0}  {name}");
}

if (live is not null)
{
    // What died and is not collected yet: what connections left behind as they arrived.
    Console.WriteLine($"{"B/conn",8} {"objects",9}  garbage by type");
    foreach (var (name, (count, bytes)) in garbageByType.OrderByDescending(kv => kv.Value.Bytes).Take(20))
    {
        Console.WriteLine($"{(double)bytes / connections,8:N0} {count,9:N0}  {name}");
    }
}

return 0;

// Every object reachable from the runtime's roots (stacks, handles, statics, the finalizer queue).
static HashSet<ulong> MarkLive(ClrHeap heap)
{
    var marked = new HashSet<ulong>();
    var pending = new Stack<ClrObject>();
    foreach (var root in heap.EnumerateRoots())
    {
        if (root.Object.IsValid && marked.Add(root.Object.Address))
        {
            pending.Push(root.Object);
        }
    }

    while (pending.Count > 0)
    {
        foreach (var reference in pending.Pop().EnumerateReferences(carefully: false, considerDependantHandles: true))
        {
            if (reference.IsValid && marked.Add(reference.Address))
            {
                pending.Push(reference);
            }
        }
    }

    return marked;
}
