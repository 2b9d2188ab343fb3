/// The version every tool prints for `--version` (`sc-seal 0.2.0`). The one source of truth is
/// the file VERSION at the top of the tree: this constant and `readonly version=` in bin/sc-chat
/// are copies of it, and VersionTests fails when either differs (change all three together).
public enum SecureChatVersion {
  public static let string = "0.2.0"
}
