import SecureChatCLI

runTool("sc-seal") { try SealTool.run(Array(CommandLine.arguments.dropFirst())) }
