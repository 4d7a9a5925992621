defmodule Linx.Netlink.Rtnl.AddressTest do
  # Not async: the live tests run `ip` and open sockets, whose fd churn would trip the
  # process-wide fd-leak check of Linx.Netlink.SocketTest when the two overlap.
  use ExUnit.Case, async: false

  import Linx.IP, only: [sigil_IP: 2]

  alias Linx.Netlink.{Attr, Error, Message, Rtnl, Socket}
  alias Linx.Netlink.Rtnl.Address
  alias Linx.Netlink.Rtnl.Address.CacheInfo
  alias Linx.Test.Sandbox

  doctest Address

  # An attribute as the kernel lays it out: struct nlattr (u16 len incl. the 4-byte
  # header, u16 type), the value, padding to 4 bytes.
  defp nla(type, value) do
    len = 4 + byte_size(value)
    pad = rem(4 - rem(len, 4), 4)
    <<len::native-16, type::native-16, value::binary, 0::size(pad * 8)>>
  end

  describe "encoding (golden bytes from /usr/include/linux/if_addr.h)" do
    test "an IPv4 address with broadcast, label, lifetimes, metric and protocol" do
      req =
        Address.build(7, "10.0.0.5", 24,
          broadcast: :auto,
          label: "v0:web",
          valid_lft: 600,
          preferred_lft: 300,
          metric: 50,
          protocol: :kernel_ra
        )

      # struct ifaddrmsg: family AF_INET, prefixlen 24, flags 0, scope 0, index 7
      header = <<2, 24, 0, 0, 7::native-32>>

      attrs =
        nla(1, <<10, 0, 0, 5>>) <>
          nla(2, <<10, 0, 0, 5>>) <>
          nla(3, "v0:web\0") <>
          nla(4, <<10, 0, 0, 255>>) <>
          nla(6, <<300::native-32, 600::native-32, 0::32, 0::32>>) <>
          nla(9, <<50::native-32>>) <>
          nla(11, <<2>>)

      assert Address.encode(req) == header <> attrs
    end

    test "an IPv6 address whose flags need IFA_FLAGS, with scope and forever lifetimes" do
      req =
        Address.build(3, "fd00::5", 64,
          flags: [:nodad, :noprefixroute, :mngtmpaddr],
          scope: :site,
          valid_lft: :forever
        )

      ip = <<0xFD, 0::8, 0::13*8, 5>>
      # IFA_F_NODAD 0x02 | IFA_F_MANAGETEMPADDR 0x100 | IFA_F_NOPREFIXROUTE 0x200
      header = <<10, 64, 0x02, 200, 3::native-32>>

      attrs =
        nla(1, ip) <>
          nla(2, ip) <>
          nla(6, <<0xFFFFFFFF::native-32, 0xFFFFFFFF::native-32, 0::64>>) <>
          nla(8, <<0x302::native-32>>)

      assert Address.encode(req) == header <> attrs
    end

    test "a point-to-point address puts the peer in IFA_ADDRESS and the local one in IFA_LOCAL" do
      req = Address.build(4, ~IP"10.9.0.1", 32, peer: "10.9.0.2")

      assert Address.encode(req) ==
               <<2, 32, 0, 0, 4::native-32>> <>
                 nla(1, <<10, 9, 0, 2>>) <> nla(2, <<10, 9, 0, 1>>)
    end

    test "broadcast :auto follows `brd +`: nothing for /31 and /32, an explicit one is kept" do
      assert Address.build(1, "10.0.0.0", 31, broadcast: :auto).broadcast == nil
      assert Address.build(1, "10.0.0.1", 32, broadcast: :auto).broadcast == nil
      assert Address.build(1, "10.0.0.1", 30, broadcast: :auto).broadcast == ~IP"10.0.0.3"
      assert Address.build(1, "10.0.0.1", 8, broadcast: "10.0.0.9").broadcast == ~IP"10.0.0.9"
    end

    test "only a valid lifetime makes the preferred lifetime the same" do
      assert %CacheInfo{valid_lft: 90, preferred_lft: 90} =
               Address.build(1, "10.0.0.1", 8, valid_lft: 90).cacheinfo

      assert %CacheInfo{valid_lft: 0xFFFFFFFF, preferred_lft: 0} =
               Address.build(1, "10.0.0.1", 8, preferred_lft: 0).cacheinfo
    end
  end

  describe "decoding" do
    test "a kernel RTM_NEWADDR with every attribute" do
      payload =
        <<10, 64, 0x80, 0, 9::native-32>> <>
          nla(1, <<0xFE, 0x80, 0::14*8>>) <>
          nla(3, "ignored\0") <>
          nla(5, <<0xFF, 0x02, 0::13*8, 1>>) <>
          nla(6, <<100::native-32, 200::native-32, 300::native-32, 400::native-32>>) <>
          nla(7, <<0xFF, 0x02, 0::13*8, 2>>) <>
          nla(8, <<0x880::native-32>>) <>
          nla(9, <<1024::native-32>>) <>
          nla(10, <<3::native-32>>) <>
          nla(11, <<3>>)

      a = Address.decode_message(%Message{type: 20, payload: payload})

      assert %Address{
               family: 10,
               prefixlen: 64,
               flags: 0x80,
               scope: 0,
               index: 9,
               address: ~IP"fe80::",
               local: nil,
               label: "ignored",
               anycast: ~IP"ff02::1",
               multicast: ~IP"ff02::2",
               cacheinfo: %CacheInfo{
                 preferred_lft: 100,
                 valid_lft: 200,
                 created: 300,
                 updated: 400
               },
               extended_flags: 0x880,
               rt_priority: 1024,
               target_netnsid: 3,
               proto: 3
             } = a

      assert Address.flag_names(a) == [:permanent, :stable_privacy]
      assert Address.valid_lft(a) == 200
      assert Address.preferred_lft(a) == 100
      assert Address.subnet(a) == ~IP"fe80::/64"
      assert Address.family_name(a) == :inet6
      assert Address.decode_message(%Message{type: 21, payload: payload}) == a
    end

    test "other message types are not addresses" do
      for type <- [16, 22, 24, 28, 32] do
        assert Address.decode_message(%Message{type: type, payload: <<2, 8, 0, 0, 1::32>>}) ==
                 nil
      end
    end

    test "never raises on short, truncated or malformed input" do
      assert %Address{family: nil} = Address.decode(<<2, 8>>)

      a = Address.decode(<<2, 8, 0, 0, 1::native-32>> <> nla(1, <<1, 2, 3>>) <> nla(6, <<1>>))
      assert %Address{address: nil, cacheinfo: nil} = a

      # a length that overruns the buffer stops the walk
      assert %Address{index: 1, address: nil} =
               Address.decode(<<2, 8, 0, 0, 1::native-32, 200::native-16, 1::native-16, 1, 2>>)

      for _ <- 1..500 do
        bin = :crypto.strong_rand_bytes(:rand.uniform(80))
        assert %Address{} = Address.decode(bin)
      end
    end

    test "a decoded request round-trips" do
      req = Address.build(5, "fd00::1", 48, flags: [:nodad], valid_lft: 50, metric: 3)
      assert Address.decode(Address.encode(req)) == req
    end

    test "IPv6 reads the secondary bit as temporary; the header byte is used without IFA_FLAGS" do
      assert Address.flag_names(%Address{family: 10, flags: 0x01}) == [:temporary]
      assert Address.flag_names(%Address{family: 2, flags: 0x81}) == [:secondary, :permanent]
      assert Address.all_flags(%Address{flags: 0x20, extended_flags: nil}) == 0x20
      assert Address.scope_name(%Address{scope: 254}) == :host
      assert Address.scope_name(%Address{scope: 42}) == 42
      assert Address.valid_lft(%Address{cacheinfo: %CacheInfo{valid_lft: 0xFFFFFFFF}}) == :forever
      assert Address.valid_lft(%Address{}) == nil
    end
  end

  describe "Inspect (0.2's form)" do
    test "address/prefix and ifindex; ? without an address; the peer when there is one" do
      assert inspect(%Address{address: ~IP"10.0.0.5", prefixlen: 24, index: 2}) ==
               "#Linx.Netlink.Rtnl.Address<10.0.0.5/24 ifindex=2>"

      assert inspect(%Address{
               address: ~IP"10.0.0.5",
               local: ~IP"10.0.0.5",
               prefixlen: 24,
               index: 2
             }) ==
               "#Linx.Netlink.Rtnl.Address<10.0.0.5/24 ifindex=2>"

      assert inspect(%Address{prefixlen: 64, index: 3}) ==
               "#Linx.Netlink.Rtnl.Address<?/64 ifindex=3>"

      assert inspect(%Address{
               local: ~IP"10.9.0.1",
               address: ~IP"10.9.0.2",
               prefixlen: 32,
               index: 4
             }) ==
               "#Linx.Netlink.Rtnl.Address<10.9.0.1/32 peer 10.9.0.2 ifindex=4>"
    end
  end

  describe "programmer errors raise ArgumentError naming the value" do
    test "prefixes out of range for the family" do
      assert_raise ArgumentError, ~r/prefix length 33/, fn ->
        Address.build(1, "10.0.0.1", 33, [])
      end

      assert_raise ArgumentError, ~r/prefix length 129/, fn ->
        Address.build(1, "::1", 129, [])
      end

      assert_raise ArgumentError, ~r/prefix length -1/, fn -> Address.build(1, "::1", -1, []) end
      assert_raise ArgumentError, ~r/"24"/, fn -> Address.build(1, "10.0.0.1", "24", []) end
    end

    test "malformed addresses, zones and wrong types" do
      for bad <- ["10.1", "010.0.0.1", "10.0.0.256", "fe80::1::2", ""] do
        assert_raise ArgumentError, ~r/#{Regex.escape(inspect(bad))}/, fn ->
          Address.build(1, bad, 8, [])
        end
      end

      assert_raise ArgumentError, ~r/zone/, fn -> Address.build(1, "fe80::1%v0", 64, []) end

      assert_raise ArgumentError, ~r/\{10, 0, 0, 1\}/, fn ->
        Address.build(1, {10, 0, 0, 1}, 8, [])
      end
    end

    test "options: unknown keys, bad values, family mismatches" do
      assert_raise ArgumentError, ~r/:brd/, fn -> Address.build(1, "10.0.0.1", 8, brd: :auto) end

      assert_raise ArgumentError, ~r/:replace/, fn ->
        Address.build(1, "10.0.0.1", 8, [:replace])
      end

      assert_raise ArgumentError, ~r/:nodad applies only to IPv6/, fn ->
        Address.build(1, "10.0.0.1", 8, flags: [:nodad])
      end

      assert_raise ArgumentError, ~r/:permanent/, fn ->
        Address.build(1, "fd00::1", 64, flags: [:permanent])
      end

      assert_raise ArgumentError, ~r/IPv6 has no broadcast/, fn ->
        Address.build(1, "fd00::1", 64, broadcast: :auto)
      end

      assert_raise ArgumentError, ~r/labels exist only on IPv4/, fn ->
        Address.build(1, "fd00::1", 64, label: "x")
      end

      assert_raise ArgumentError, ~r/"0123456789abcdef"/, fn ->
        Address.build(1, "10.0.0.1", 8, label: "0123456789abcdef")
      end

      assert_raise ArgumentError,
                   ~r/peer fd00::2 is not in the family of the address 10.0.0.1/,
                   fn ->
                     Address.build(1, "10.0.0.1", 32, peer: "fd00::2")
                   end

      assert_raise ArgumentError, ~r/broadcast "fd00::2"|fd00::2 is not in the family/, fn ->
        Address.build(1, "10.0.0.1", 8, broadcast: "fd00::2")
      end

      assert_raise ArgumentError, ~r/preferred_lft 100 is longer than valid_lft 10/, fn ->
        Address.build(1, "10.0.0.1", 8, valid_lft: 10, preferred_lft: 100)
      end

      assert_raise ArgumentError, ~r/valid_lft 0/, fn ->
        Address.build(1, "10.0.0.1", 8, valid_lft: 0)
      end

      assert_raise ArgumentError, ~r/:galaxy/, fn ->
        Address.build(1, "10.0.0.1", 8, scope: :galaxy)
      end

      assert_raise ArgumentError, ~r/256/, fn -> Address.build(1, "10.0.0.1", 8, scope: 256) end
      assert_raise ArgumentError, ~r/-5/, fn -> Address.build(1, "10.0.0.1", 8, metric: -5) end

      assert_raise ArgumentError, ~r/:yes/, fn ->
        Address.build(1, "10.0.0.1", 8, replace: :yes)
      end

      assert_raise ArgumentError, ~r/:bogus/, fn ->
        Address.build(1, "10.0.0.1", 8, protocol: :bogus)
      end
    end
  end

  describe "live, in a private netns" do
    @describetag :root
    @describetag :iproute2

    setup do
      ns = Sandbox.netns!(tag: "addr")
      Sandbox.ip!(ns.name, ~w(link add a0 type veth peer name a1))
      Sandbox.ip!(ns.name, ~w(link set a0 up))
      {:ok, sock} = Rtnl.open({:path, ns.path})
      on_exit(fn -> Socket.close(sock) end)
      index = hd(Sandbox.ip_json!(ns.name, ~w(link show dev a0)))["ifindex"]
      %{ns: ns, sock: sock, index: index}
    end

    defp ip_addrs(ns, dev) do
      [%{"addr_info" => info}] = Sandbox.ip_json!(ns.name, ["addr", "show", "dev", dev])
      info
    end

    test "add/list/delete IPv4 and IPv6 by name and by ifindex", %{
      ns: ns,
      sock: sock,
      index: index
    } do
      assert :ok = Address.add(sock, "a0", "10.20.0.1", 24)
      assert :ok = Address.add(sock, index, ~IP"fd00:20::1", 64, flags: [:nodad])

      assert [v4] = for(i <- ip_addrs(ns, "a0"), i["family"] == "inet", do: i)
      assert %{"local" => "10.20.0.1", "prefixlen" => 24} = v4

      assert {:ok, by_name} = Address.list(sock, "a0")
      assert {:ok, ^by_name} = Address.list(sock, index)
      assert Enum.all?(by_name, &(&1.index == index))

      shown = by_name |> Enum.map(&Linx.IP.Subnet.to_string(Address.subnet(&1))) |> Enum.sort()
      assert "10.20.0.1/24" in shown
      assert "fd00:20::1/64" in shown

      assert {:ok, all} = Address.list(sock)
      assert Enum.any?(all, &(&1.local == ~IP"127.0.0.1"))
      assert length(all) > length(by_name)

      assert {:ok, v6} = Address.list(sock, link: "a0", family: :inet6)
      assert Enum.all?(v6, &(&1.family == 10))
      assert Enum.any?(v6, &(&1.address == ~IP"fd00:20::1"))
      assert {:ok, v4only} = Address.list(sock, family: :inet)
      assert Enum.all?(v4only, &(&1.family == 2))

      assert :ok = Address.delete(sock, "a0", "10.20.0.1", 24)
      assert :ok = Address.delete(sock, index, "fd00:20::1", 64)
      assert {:ok, left} = Address.list(sock, "a0")
      refute Enum.any?(left, &(&1.address in [~IP"10.20.0.1", ~IP"fd00:20::1"]))
      assert for(i <- ip_addrs(ns, "a0"), i["scope"] == "global", do: i) == []
    end

    test "options reach the kernel as ip shows them", %{ns: ns, sock: sock} do
      assert :ok =
               Address.add(sock, "a0", "10.21.0.1", 24,
                 broadcast: :auto,
                 label: "a0:web",
                 valid_lft: 900,
                 preferred_lft: 600,
                 metric: 77
               )

      assert :ok = Address.add(sock, "a0", "10.22.0.1", 32, peer: "10.22.0.2", scope: :link)

      assert :ok =
               Address.add(sock, "a0", "fd00:21::1", 64,
                 flags: [:nodad, :noprefixroute, :home],
                 protocol: 99
               )

      by_local = Map.new(ip_addrs(ns, "a0"), &{&1["local"], &1})

      assert %{
               "broadcast" => "10.21.0.255",
               "label" => "a0:web",
               "metric" => 77,
               "dynamic" => true,
               "valid_life_time" => valid
             } = by_local["10.21.0.1"]

      assert valid in 890..900
      assert %{"address" => "10.22.0.2", "scope" => "link"} = by_local["10.22.0.1"]

      assert %{"nodad" => true, "noprefixroute" => true, "home" => true} =
               by_local["fd00:21::1"]

      {:ok, addrs} = Address.list(sock, "a0")
      v6 = Enum.find(addrs, &(&1.address == ~IP"fd00:21::1"))
      assert [:nodad, :home, :permanent, :noprefixroute] == Address.flag_names(v6)
      assert v6.proto == 99

      assert inspect(Enum.find(addrs, &(&1.local == ~IP"10.22.0.1"))) =~
               "10.22.0.1/32 peer 10.22.0.2"

      # the peer address needs its peer to be deleted
      assert {:error, %Error{errno: :eaddrnotavail}} = Address.delete(sock, "a0", "10.22.0.1", 32)
      assert :ok = Address.delete(sock, "a0", "10.22.0.1", 32, peer: "10.22.0.2")
    end

    test "a duplicate is EEXIST; replace: true updates it in place", %{ns: ns, sock: sock} do
      assert :ok = Address.add(sock, "a0", "10.23.0.1", 24, valid_lft: 100)

      assert {:error,
              %Error{errno: :eexist, operation: :add_address, object: {"a0", "10.23.0.1/24"}}} =
               Address.add(sock, "a0", "10.23.0.1", 24)

      assert :ok =
               Address.add(sock, "a0", "10.23.0.1", 24, replace: true, valid_lft: 5000, metric: 9)

      assert [%{"valid_life_time" => v, "metric" => 9}] =
               for(i <- ip_addrs(ns, "a0"), i["local"] == "10.23.0.1", do: i)

      assert v > 4000
      # replace also creates
      assert :ok = Address.add(sock, "a0", "10.24.0.1", 24, replace: true)
      assert {:ok, addrs} = Address.list(sock, "a0")
      assert Enum.count(addrs, &(&1.family == 2)) == 2
    end

    test "kernel errors name the operation and the object", %{sock: sock} do
      assert {:error,
              %Error{
                errno: :eaddrnotavail,
                operation: :delete_address,
                object: {"a0", "10.99.0.1/24"}
              }} =
               Address.delete(sock, "a0", "10.99.0.1", 24)

      assert {:error,
              %Error{errno: :enodev, operation: :add_address, object: "nope0", message: msg}} =
               Address.add(sock, "nope0", "10.99.0.1", 24)

      assert msg == ~s(no such interface "nope0")

      assert {:error, %Error{errno: :enodev, operation: :list_addresses, object: "nope0"}} =
               Address.list(sock, "nope0")

      assert {:error, %Error{errno: :enodev, operation: :add_address, object: {4242, _}}} =
               Address.add(sock, 4242, "10.99.0.1", 24)

      # the kernel refuses a valid_lft shorter than the preferred one only when asked
      # directly; Linx refuses it before sending
      assert_raise ArgumentError, fn ->
        Address.add(sock, "a0", "10.99.0.1", 24, valid_lft: 1, preferred_lft: 2)
      end
    end

    test "bad links raise before any request", %{sock: sock} do
      assert_raise ArgumentError, ~r/"0123456789abcdef"/, fn ->
        Address.add(sock, "0123456789abcdef", "10.0.0.1", 8)
      end

      assert_raise ArgumentError, ~r/a link is named.*0/, fn -> Address.list(sock, 0) end
      assert_raise ArgumentError, ~r/:a0/, fn -> Address.delete(sock, :a0, "10.0.0.1", 8) end
      assert_raise ArgumentError, ~r/:oops/, fn -> Address.list(sock, oops: 1) end
      assert_raise ArgumentError, ~r/:ipx/, fn -> Address.list(sock, family: :ipx) end

      assert_raise ArgumentError, ~r/:peerx/, fn ->
        Address.delete(sock, "a0", "10.0.0.1", 8, peerx: 1)
      end
    end

    test "a socket with strict dump checking accepts the request and filters by index", %{
      sock: sock,
      index: index
    } do
      # NETLINK_GET_STRICT_CHK (12) on SOL_NETLINK (270), /usr/include/linux/netlink.h:
      # the kernel validates the dump header and filters on ifa_index itself.
      :ok = :socket.setopt_native(sock.socket, {270, 12}, <<1::native-32>>)
      assert :ok = Address.add(sock, "a0", "10.25.0.1", 24)
      assert {:ok, addrs} = Address.list(sock, "a0")
      assert addrs != [] and Enum.all?(addrs, &(&1.index == index))
      assert {:ok, all} = Address.list(sock)
      assert Enum.any?(all, &(&1.index == 1))
    end

    test "messages sent by the kernel carry what list decodes", %{sock: sock} do
      assert :ok = Address.add(sock, "a0", "10.26.0.1", 24)
      {:ok, [a]} = Address.list(sock, link: "a0", family: :inet)
      bin = Address.encode(a)
      assert Address.decode_message(%Message{type: 20, payload: bin}) == a
      assert {:ok, attrs} = Attr.parse(binary_part(bin, 8, byte_size(bin) - 8))
      assert {3, "a0\0"} in attrs
    end
  end
end
