import SecureChatCLI

runTool("sc-handshake") { try HandshakeTool.run(Array(CommandLine.arguments.dropFirst())) }
