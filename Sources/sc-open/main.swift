import SecureChatCLI

runTool("sc-open") { try OpenTool.run(Array(CommandLine.arguments.dropFirst())) }
