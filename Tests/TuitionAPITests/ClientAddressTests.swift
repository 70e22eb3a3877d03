import Testing

@testable import TuitionAPI

/// Behind a reverse proxy every client arrives from the proxy's address: failed authentications are counted by the
/// client `X-Forwarded-For` names, but only when the peer is a proxy the operator trusts.
@Suite struct ClientAddressTests {
    static let proxies: Set<String> = ["10.0.0.1", "10.0.0.2"]

    @Test(arguments: [
        // A peer that is no trusted proxy is the client, whatever it claims.
        ("203.0.113.9", ["198.51.100.7"], "203.0.113.9"),
        // One trusted proxy: the address it appended.
        ("10.0.0.1", ["198.51.100.7"], "198.51.100.7"),
        // A client's own forged entries are left of what the proxy appended and do not count.
        ("10.0.0.1", ["1.2.3.4, 198.51.100.7"], "198.51.100.7"),
        // Two proxies in a row, in one header or in two.
        ("10.0.0.1", ["198.51.100.7, 10.0.0.2"], "198.51.100.7"),
        ("10.0.0.1", ["198.51.100.7", "10.0.0.2"], "198.51.100.7"),
        // Nothing forwarded, or only proxies: the peer.
        ("10.0.0.1", [], "10.0.0.1"),
        ("10.0.0.1", ["10.0.0.2", " "], "10.0.0.1"),
        // Ports and brackets some proxies write are dropped, so a new source port is not a new client.
        ("10.0.0.1", ["198.51.100.7:50123"], "198.51.100.7"),
        ("10.0.0.1", ["[2001:DB8::7]:443"], "2001:db8::7"),
        // An entry that is no address is counted by the proxy, not by whatever text was sent.
        ("10.0.0.1", ["unknown"], "10.0.0.1"),
        ("10.0.0.1", ["198.51.100.7, not-an-address"], "10.0.0.1"),
        // The peer of a dual-stack listener, IPv4-mapped, is the trusted IPv4 proxy.
        ("::ffff:10.0.0.1", ["198.51.100.7"], "198.51.100.7"),
    ])
    func theClientIsTheFirstUntrustedHopFromTheRight(peer: String, forwarded: [String], client: String) {
        #expect(FailedAuthenticationLimiter.clientAddress(peer: peer, forwardedFor: forwarded, trustedProxies: Self.proxies) == client)
    }

    @Test func withoutTrustedProxiesTheHeaderIsIgnored() {
        #expect(
            FailedAuthenticationLimiter.clientAddress(peer: "10.0.0.1", forwardedFor: ["198.51.100.7"], trustedProxies: []) == "10.0.0.1")
        #expect(FailedAuthenticationLimiter.clientAddress(peer: nil, forwardedFor: ["198.51.100.7"], trustedProxies: []) == "local")
    }

    /// An IPv6 client is counted by its /64: rotating addresses inside one subscriber's block earns no fresh guesses.
    @Test func anIPv6ClientIsCountedByItsSlash64() {
        #expect(FailedAuthenticationLimiter.limitKey("2001:db8:1:2:aaaa::1") == "2001:db8:1:2::/64")
        #expect(FailedAuthenticationLimiter.limitKey("2001:db8:1:2:bbbb::9") == "2001:db8:1:2::/64")
        #expect(FailedAuthenticationLimiter.limitKey("198.51.100.7") == "198.51.100.7")
    }

    @Test func theSettingTakesAddressesOnlyInTheFormPeersAreComparedIn() throws {
        let configured = try AppConfiguration.fromEnvironment([
            "DATABASE_URL": "postgres://nobody@127.0.0.1:1/unused", "TUITIONGUARD_TRUSTED_PROXIES": "10.0.0.1, ::1, FD00:0:0:0::1",
        ])
        #expect(configured.auth.trustedProxies == ["10.0.0.1", "::1", "fd00::1"])
        #expect(throws: (any Error).self) {
            try AppConfiguration.fromEnvironment([
                "DATABASE_URL": "postgres://nobody@127.0.0.1:1/unused", "TUITIONGUARD_TRUSTED_PROXIES": "proxy.internal",
            ])
        }
    }
}
