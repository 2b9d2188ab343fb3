import SecureChatCLI

runTool("sc-logcheck") { try LogCheckTool.run(Array(CommandLine.arguments.dropFirst())) }
