using Microsoft.Extensions.DependencyInjection;
using Parley.Server.Bus;
using Parley.Server.Connections;
using Parley.Server.History;
using Parley.Server.Hosting;
using Parley.Server.Line;
using Parley.Server.Names;

namespace Parley.Server.Chat;

/// <summary>The chat core's services: the hub and the seams it sits on, with their in-process implementations.</summary>
internal static class ChatServices
{
    public static void Add(IServiceCollection services, ServerOptions options)
    {
        services.AddSingleton(new OutputBudget(options.MaxOutputMemory));
        services.AddSingleton<INameRegistry, InProcessNameRegistry>();
        services.AddSingleton<IRoomHistory, NoRoomHistory>();
        services.AddSingleton<IRoomBus, InProcessRoomBus>();
        services.AddSingleton<ChatHub>();
        services.AddSingleton<RawChatRoom>();
    }
}
