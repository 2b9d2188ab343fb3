import SecureChatCLI

runTool("sc-keygen") { try KeygenTool.run(Array(CommandLine.arguments.dropFirst())) }
