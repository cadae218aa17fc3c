using System.Reflection;
using Microsoft.Extensions.Logging;
using Parley.Server.Hosting;

namespace Parley.Server.Tests;

public class LogEventIdTests
{
    [Fact]
    public void EveryLogEventHasAnIdOfItsOwn()
    {
        // Operators filter and alert on event ids; two events sharing one would be told apart only by their text.
        var events = typeof(ParleyServer).Assembly.GetTypes()
            .SelectMany(type => type.GetMethods(BindingFlags.Static | BindingFlags.Public | BindingFlags.NonPublic))
            .Select(method => (Method: $"{method.DeclaringType!.Name}.{method.Name}", Attribute: method.GetCustomAttribute<LoggerMessageAttribute>()))
            .Where(e => e.Attribute is not null)
            .ToList();
        Assert.NotEmpty(events);
        var shared = events.GroupBy(e => e.Attribute!.EventId)
            .Where(group => group.Count() > 1)
            .Select(group => $"{group.Key}: {string.Join(", ", group.Select(e => e.Method))}")
            .ToList();
        Assert.True(shared.Count == 0, "event ids used more than once: " + string.Join("; ", shared));
    }
}
