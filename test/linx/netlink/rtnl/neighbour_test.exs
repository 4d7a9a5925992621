defmodule Linx.Netlink.Rtnl.NeighbourTest do
  # Not async: the live tests run `ip` and `ping` and open sockets (see AddressTest).
  use ExUnit.Case, async: false

  import Linx.IP, only: [sigil_IP: 2]
  import Linx.MAC, only: [sigil_MAC: 2]

  alias Linx.Netlink.{Error, Message, Rtnl, Socket}
  alias Linx.Netlink.Rtnl.Neighbour
  alias Linx.Netlink.Rtnl.Neighbour.CacheInfo
  alias Linx.Test.Sandbox

  doctest Neighbour

  defp nla(type, value) do
    len = 4 + byte_size(value)
    pad = rem(4 - rem(len, 4), 4)
    <<len::native-16, type::native-16, value::binary, 0::size(pad * 8)>>
  end

  # struct ndmsg (/usr/include/linux/neighbour.h): family, 3 pad bytes, s32 ifindex,
  # u16 state, u8 flags, u8 type
  defp ndmsg(family, ifindex, state, flags, type),
    do: <<family, 0, 0, 0, ifindex::native-signed-32, state::native-16, flags, type>>

  describe "encoding (golden bytes from /usr/include/linux/neighbour.h)" do
    test "a permanent ARP entry (0.2's add/4)" do
      req = Neighbour.build(5, "10.0.0.2", "02:00:00:00:00:02", [])

      # AF_INET, NUD_PERMANENT 0x80, RTN_UNICAST 1; NDA_DST 1, NDA_LLADDR 2
      assert Neighbour.encode(req) ==
               ndmsg(2, 5, 0x80, 0, 1) <>
                 nla(1, <<10, 0, 0, 2>>) <> nla(2, <<2, 0, 0, 0, 0, 2>>)
    end

    test "a stale IPv6 router entry with a protocol" do
      req =
        Neighbour.build(7, ~IP"fe80::1", ~MAC"02:aa:bb:cc:dd:ee",
          state: :stale,
          router: true,
          protocol: :static
        )

      # NUD_STALE 0x04, NTF_ROUTER 0x80; NDA_PROTOCOL 12 (u8), RTPROT_STATIC 4
      assert Neighbour.encode(req) ==
               ndmsg(10, 7, 0x04, 0x80, 1) <>
                 nla(1, <<0xFE, 0x80, 0::13*8, 1>>) <>
                 nla(2, <<2, 0xAA, 0xBB, 0xCC, 0xDD, 0xEE>>) <> nla(12, <<4>>)
    end

    test "a proxy entry carries NTF_PROXY and no link-layer address" do
      req = Neighbour.build(3, "fd00::9", nil, proxy: true)

      assert Neighbour.encode(req) ==
               ndmsg(10, 3, 0x80, 0x08, 1) <> nla(1, <<0xFD, 0::14*8, 9>>)
    end

    test "a managed entry has no state and NTF_EXT_MANAGED in NDA_FLAGS_EXT" do
      req = Neighbour.build(3, "10.0.0.8", nil, managed: true, extern_learn: true)

      # NTF_EXT_LEARNED 0x10; NDA_FLAGS_EXT 15 = NTF_EXT_MANAGED 1
      assert Neighbour.encode(req) ==
               ndmsg(2, 3, 0, 0x10, 1) <> nla(1, <<10, 0, 0, 8>>) <> nla(15, <<1::native-32>>)
    end

    test "every state atom maps to its NUD_* bit" do
      for {state, bit} <- [
            none: 0,
            incomplete: 0x01,
            reachable: 0x02,
            stale: 0x04,
            delay: 0x08,
            probe: 0x10,
            failed: 0x20,
            noarp: 0x40,
            permanent: 0x80
          ] do
        assert Neighbour.build(1, "10.0.0.1", nil, state: state).state == bit
        assert Neighbour.state_value(state) == bit
        assert Neighbour.state_names(bit) == [state]
      end
    end
  end

  describe "decoding" do
    test "an FDB-style entry with every attribute" do
      payload =
        ndmsg(7, 4, 0x80, 0x02, 0) <>
          nla(1, <<192, 0, 2, 1>>) <>
          nla(2, <<2, 0, 0, 0, 0, 9>>) <>
          nla(3, <<10::native-32, 20::native-32, 30::native-32, 2::native-32>>) <>
          nla(4, <<3::native-32>>) <>
          nla(5, <<100::native-16>>) <>
          nla(6, <<4789::16>>) <>
          nla(7, <<42::native-32>>) <>
          nla(8, <<6::native-32>>) <>
          nla(9, <<2::native-32>>) <>
          nla(10, <<1::native-signed-32>>) <>
          nla(11, <<43::native-32>>) <>
          nla(12, <<186>>) <>
          nla(13, <<77::native-32>>) <>
          nla(14, <<8::native-16, 1::native-16, 0::32>>) <>
          nla(15, <<1::native-32>>) <>
          nla(16, <<0xFF::native-16>>) <>
          nla(17, <<0x10>>)

      n = Neighbour.decode_message(%Message{type: 28, payload: payload})

      assert %Neighbour{
               family: 7,
               ifindex: 4,
               state: 0x80,
               flags: 0x02,
               dst: ~IP"192.0.2.1",
               lladdr: ~MAC"02:00:00:00:00:09",
               cacheinfo: %CacheInfo{confirmed: 10, used: 20, updated: 30, refcnt: 2},
               probes: 3,
               vlan: 100,
               port: 4789,
               vni: 42,
               via_ifindex: 6,
               master: 2,
               link_netnsid: 1,
               src_vni: 43,
               protocol: 186,
               nh_id: 77,
               fdb_ext_attrs: <<8::native-16, 1::native-16, 0::32>>,
               flags_ext: 1,
               ndm_state_mask: 0xFF,
               ndm_flags_mask: 0x10
             } = n

      assert Neighbour.flag_names(n) == [:self, :managed]
      assert Neighbour.state_names(n) == [:permanent]
      assert Neighbour.decode_message(%Message{type: 29, payload: payload}) == n
      assert Neighbour.decode_message(%Message{type: 30, payload: payload}) == nil
      assert Neighbour.decode_message(%Message{type: 20, payload: payload}) == nil
    end

    test "link-layer addresses of other lengths and empty ones never crash" do
      for {ll, expected} <- [
            {<<>>, nil},
            {<<10, 0, 0, 1>>, <<10, 0, 0, 1>>},
            {:binary.copy(<<0x80>>, 20), :binary.copy(<<0x80>>, 20)}
          ] do
        n = Neighbour.decode(ndmsg(2, 1, 0x20, 0, 1) <> nla(1, <<10, 0, 0, 1>>) <> nla(2, ll))
        assert n.lladdr == expected
      end

      assert %Neighbour{family: nil} = Neighbour.decode(<<2, 0, 0>>)

      for _ <- 1..500 do
        assert %Neighbour{} = Neighbour.decode(:crypto.strong_rand_bytes(:rand.uniform(60)))
      end
    end

    test "a request round-trips" do
      req = Neighbour.build(9, "fd00::7", "02:00:00:00:00:07", state: :reachable, router: true)
      assert Neighbour.decode(Neighbour.encode(req)) == req
    end
  end

  describe "names and Inspect" do
    test "state and flag names" do
      assert Neighbour.state_names(0x22) == [:reachable, :failed]
      assert Neighbour.flag_names(%Neighbour{flags: 0x18}) == [:proxy, :extern_learn]
      assert Neighbour.flag_names(%Neighbour{flags: 0}) == []
      assert Neighbour.proxy?(%Neighbour{flags: 0x08})
      refute Neighbour.proxy?(%Neighbour{flags: 0x80})
    end

    test "0.2's form: dst -> lladdr ifindex, no arrow without lladdr, ? without dst" do
      assert inspect(%Neighbour{dst: ~IP"10.0.0.1", lladdr: ~MAC"aa:bb:cc:dd:ee:ff", ifindex: 2}) ==
               "#Linx.Netlink.Rtnl.Neighbour<10.0.0.1 -> aa:bb:cc:dd:ee:ff ifindex=2>"

      assert inspect(%Neighbour{dst: ~IP"fd00::9", ifindex: 3}) ==
               "#Linx.Netlink.Rtnl.Neighbour<fd00::9 ifindex=3>"

      assert inspect(%Neighbour{lladdr: ~MAC"02:00:00:00:00:01", ifindex: 4}) ==
               "#Linx.Netlink.Rtnl.Neighbour<? -> 02:00:00:00:00:01 ifindex=4>"

      assert inspect(%Neighbour{dst: ~IP"10.0.0.1", lladdr: <<10, 0, 0, 2>>, ifindex: 5}) ==
               "#Linx.Netlink.Rtnl.Neighbour<10.0.0.1 -> 0a:00:00:02 ifindex=5>"
    end
  end

  describe "programmer errors raise ArgumentError naming the value" do
    test "bad states, addresses, MACs and options" do
      assert_raise ArgumentError, ~r/:sleepy/, fn ->
        Neighbour.build(1, "10.0.0.1", "02:00:00:00:00:01", state: :sleepy)
      end

      assert_raise ArgumentError, ~r/"stale"/, fn -> Neighbour.state_value("stale") end
      assert_raise ArgumentError, ~r/:bogus/, fn -> Neighbour.state_value([:stale, :bogus]) end

      assert_raise ArgumentError, ~r/"10.0.0"/, fn -> Neighbour.build(1, "10.0.0", nil, []) end
      assert_raise ArgumentError, ~r/zone/, fn -> Neighbour.build(1, "fe80::1%eth0", nil, []) end
      assert_raise ArgumentError, ~r/:ip/, fn -> Neighbour.build(1, :ip, nil, []) end

      assert_raise ArgumentError, ~r/"02:00:00:00:00"/, fn ->
        Neighbour.build(1, "10.0.0.1", "02:00:00:00:00", [])
      end

      assert_raise ArgumentError, ~r/:proxy/, fn ->
        Neighbour.build(1, "10.0.0.1", nil, [:proxy])
      end

      assert_raise ArgumentError, ~r/:nud/, fn ->
        Neighbour.build(1, "10.0.0.1", nil, nud: :stale)
      end

      assert_raise ArgumentError, ~r/:proxy option "yes"/, fn ->
        Neighbour.build(1, "10.0.0.1", nil, proxy: "yes")
      end

      assert_raise ArgumentError, ~r/300/, fn ->
        Neighbour.build(1, "10.0.0.1", nil, protocol: 300)
      end
    end
  end

  describe "live, in private netns" do
    @describetag :root
    @describetag :iproute2

    # n1 <-> n2 over a veth pair (x1 in n1, x2 in n2), IPv4 and IPv6.
    setup do
      n1 = Sandbox.netns!(tag: "nb1")
      n2 = Sandbox.netns!(tag: "nb2")
      Sandbox.ip!(n1.name, ~w(link add x1 type veth peer name x2 netns #{n2.name}))

      for {ns, dev, n} <- [{n1, "x1", 1}, {n2, "x2", 2}] do
        Sandbox.ip!(ns.name, ~w(addr add 10.40.0.#{n}/24 dev #{dev}))
        Sandbox.ip!(ns.name, ~w(addr add fd00:40::#{n}/64 dev #{dev} nodad))
        Sandbox.ip!(ns.name, ~w(link set #{dev} up))
      end

      {:ok, sock} = Rtnl.open({:path, n1.path})
      on_exit(fn -> Socket.close(sock) end)
      index = hd(Sandbox.ip_json!(n1.name, ~w(link show dev x1)))["ifindex"]
      %{n1: n1, n2: n2, sock: sock, index: index}
    end

    defp ip_neigh(ns, args \\ []),
      do: Sandbox.ip_json!(ns.name, ["neigh", "show" | args] ++ ~w(nud all))

    defp find(entries, dst), do: Enum.find(entries, &(&1.dst == Linx.IP.parse!(dst)))

    test "add/list/delete ARP and NDP entries by name and by ifindex", %{
      n1: n1,
      sock: sock,
      index: index
    } do
      assert :ok = Neighbour.add(sock, "x1", "10.40.0.50", "02:00:00:00:00:50")
      assert :ok = Neighbour.add(sock, index, ~IP"fd00:40::50", ~MAC"02:00:00:00:00:51")

      ip = Map.new(ip_neigh(n1), &{&1["dst"], &1})

      assert %{"lladdr" => "02:00:00:00:00:50", "state" => ["PERMANENT"], "dev" => "x1"} =
               ip["10.40.0.50"]

      assert %{"lladdr" => "02:00:00:00:00:51", "state" => ["PERMANENT"]} = ip["fd00:40::50"]

      assert {:ok, by_name} = Neighbour.list(sock, "x1")
      assert {:ok, by_index} = Neighbour.list(sock, index)
      assert Enum.map(by_name, & &1.dst) == Enum.map(by_index, & &1.dst)
      assert Enum.all?(by_name, &(&1.ifindex == index))

      v4 = find(by_name, "10.40.0.50")
      assert %Neighbour{family: 2, state: 0x80, lladdr: ~MAC"02:00:00:00:00:50"} = v4
      assert Neighbour.state_names(v4) == [:permanent]
      assert %Neighbour{family: 10} = find(by_name, "fd00:40::50")

      assert {:ok, only6} = Neighbour.list(sock, link: "x1", family: :inet6)
      assert only6 != [] and Enum.all?(only6, &(&1.family == 10))

      assert :ok = Neighbour.delete(sock, "x1", "10.40.0.50")
      assert :ok = Neighbour.delete(sock, index, ~IP"fd00:40::50")
      assert {:ok, left} = Neighbour.list(sock, "x1")
      assert find(left, "10.40.0.50") == nil
      assert find(left, "fd00:40::50") == nil
    end

    test "states, router, protocol and managed entries reach the kernel", %{n1: n1, sock: sock} do
      assert :ok = Neighbour.add(sock, "x1", "10.40.0.60", "02:00:00:00:00:60", state: :stale)

      assert :ok =
               Neighbour.add(sock, "x1", "10.40.0.61", "02:00:00:00:00:61",
                 state: :reachable,
                 protocol: :static
               )

      assert :ok = Neighbour.add(sock, "x1", "10.40.0.62", "02:00:00:00:00:62", state: :noarp)

      assert :ok =
               Neighbour.add(sock, "x1", "fd00:40::63", "02:00:00:00:00:63",
                 state: :stale,
                 router: true
               )

      assert :ok = Neighbour.add(sock, "x1", "10.40.0.64", nil, managed: true)

      ip = Map.new(ip_neigh(n1), &{&1["dst"], &1})
      assert ip["10.40.0.60"]["state"] == ["STALE"]
      assert %{"state" => ["REACHABLE"], "protocol" => "static"} = ip["10.40.0.61"]
      assert ip["10.40.0.62"]["state"] == ["NOARP"]
      assert %{"state" => ["STALE"], "router" => nil} = ip["fd00:40::63"]
      assert Map.has_key?(ip["fd00:40::63"], "router")
      assert Map.has_key?(ip["10.40.0.64"], "managed")

      {:ok, entries} = Neighbour.list(sock, "x1")
      assert :router in Neighbour.flag_names(find(entries, "fd00:40::63"))
      assert :managed in Neighbour.flag_names(find(entries, "10.40.0.64"))
      assert find(entries, "10.40.0.61").protocol == 4
    end

    test "a learned entry blocks add/4 (EEXIST); replace: true overwrites it", %{
      n1: n1,
      n2: n2,
      sock: sock
    } do
      Sandbox.cmd!("ip", ~w(netns exec #{n1.name} ping -c 1 -i 0.2 -w 5 10.40.0.2))
      peer_mac = hd(Sandbox.ip_json!(n2.name, ~w(link show dev x2)))["address"]

      {:ok, entries} = Neighbour.list(sock, "x1")
      learned = find(entries, "10.40.0.2")
      assert learned.lladdr == Linx.MAC.parse!(peer_mac)
      assert Neighbour.state_names(learned) -- [:reachable, :stale, :delay, :probe] == []

      assert {:error,
              %Error{errno: :eexist, operation: :add_neighbour, object: {"x1", "10.40.0.2"}}} =
               Neighbour.add(sock, "x1", "10.40.0.2", "02:00:00:00:00:99")

      assert :ok = Neighbour.add(sock, "x1", "10.40.0.2", "02:00:00:00:00:99", replace: true)
      {:ok, entries} = Neighbour.list(sock, "x1")
      assert %Neighbour{state: 0x80, lladdr: ~MAC"02:00:00:00:00:99"} = find(entries, "10.40.0.2")

      # replace also changes only the state, keeping the address
      assert :ok = Neighbour.add(sock, "x1", "10.40.0.2", nil, replace: true, state: :stale)
      {:ok, entries} = Neighbour.list(sock, "x1")
      assert %Neighbour{state: 0x04, lladdr: ~MAC"02:00:00:00:00:99"} = find(entries, "10.40.0.2")
    end

    test "proxy entries: add, list(proxy: true), delete(proxy: true)", %{
      n1: n1,
      sock: sock,
      index: index
    } do
      assert :ok = Neighbour.add(sock, "x1", "10.40.0.70", nil, proxy: true)
      assert :ok = Neighbour.add(sock, index, "fd00:40::70", nil, proxy: true)

      # (scoped to x1: device-less proxy entries of other, dead netns can leak into new
      # ones on some kernels, see NeighbourOracleTest)
      ip = Sandbox.ip_json!(n1.name, ~w(neigh show proxy dev x1))
      assert Enum.sort(for e <- ip, do: e["dst"]) == ["10.40.0.70", "fd00:40::70"]

      # a plain dump leaves proxies out
      {:ok, plain} = Neighbour.list(sock)
      refute Enum.any?(plain, &Neighbour.proxy?/1)

      assert {:ok, proxies} = Neighbour.list(sock, proxy: true, link: "x1")
      assert Enum.all?(proxies, &Neighbour.proxy?/1)

      assert Enum.sort(Enum.map(proxies, &Linx.IP.to_string(&1.dst))) == [
               "10.40.0.70",
               "fd00:40::70"
             ]

      assert {:ok, [%Neighbour{}]} = Neighbour.list(sock, link: "x1", proxy: true, family: :inet)

      # the kernel's proxy table has no exclusive create: adding it again succeeds
      assert :ok = Neighbour.add(sock, "x1", "10.40.0.70", nil, proxy: true)
      assert {:ok, [_, _]} = Neighbour.list(sock, proxy: true, link: index)
      assert {:error, %Error{errno: :enoent}} = Neighbour.delete(sock, "x1", "10.40.0.70")
      assert :ok = Neighbour.delete(sock, "x1", "10.40.0.70", proxy: true)
      assert :ok = Neighbour.delete(sock, "x1", "fd00:40::70", proxy: true)
      assert {:ok, []} = Neighbour.list(sock, proxy: true, link: "x1")
      assert Sandbox.ip_json!(n1.name, ~w(neigh show proxy dev x1)) == []
    end

    test "bridge forwarding entries by family and link", %{n1: n1, sock: sock} do
      Sandbox.ip!(n1.name, ~w(link add br9 type bridge))
      Sandbox.ip!(n1.name, ~w(link add p0 type veth peer name p1))
      Sandbox.ip!(n1.name, ~w(link set p0 master br9))
      mac = hd(Sandbox.ip_json!(n1.name, ~w(link show dev p0)))["address"]

      {:ok, fdb} = Neighbour.list(sock, family: :bridge)
      assert fdb != [] and Enum.all?(fdb, &(&1.family == 7))
      assert Enum.any?(fdb, &(&1.lladdr == Linx.MAC.parse!(mac)))

      {:ok, port} = Neighbour.list(sock, family: :bridge, link: "p0")

      assert port != [] and
               Enum.all?(
                 port,
                 &(&1.ifindex == hd(Sandbox.ip_json!(n1.name, ~w(link show dev p0)))["ifindex"])
               )

      br = hd(Sandbox.ip_json!(n1.name, ~w(link show dev br9)))["ifindex"]
      assert Enum.any?(port, &(&1.master == br))

      # the plain dump holds no bridge entries
      {:ok, plain} = Neighbour.list(sock)
      refute Enum.any?(plain, &(&1.family == 7))
    end

    test "kernel errors name the operation and the object", %{sock: sock} do
      assert {:error,
              %Error{errno: :enoent, operation: :delete_neighbour, object: {"x1", "10.40.0.99"}}} =
               Neighbour.delete(sock, "x1", "10.40.0.99")

      assert {:error,
              %Error{errno: :enodev, operation: :add_neighbour, object: "nope0", message: msg}} =
               Neighbour.add(sock, "nope0", "10.40.0.9", "02:00:00:00:00:09")

      assert msg == ~s(no such interface "nope0")

      assert {:error, %Error{errno: :enodev, operation: :list_neighbours}} =
               Neighbour.list(sock, "nope0")

      assert {:error, %Error{errno: :enodev, operation: :delete_neighbour, object: {4242, _}}} =
               Neighbour.delete(sock, 4242, "10.40.0.9")

      # a valid state without a link-layer address: the kernel says why
      assert {:error, %Error{errno: :einval, operation: :add_neighbour}} =
               Neighbour.add(sock, "x1", "10.40.0.98", nil)
    end

    test "bad arguments raise before any request", %{sock: sock} do
      assert_raise ArgumentError, ~r/"x\/1"/, fn ->
        Neighbour.add(sock, "x/1", "10.0.0.1", "02:00:00:00:00:01")
      end

      assert_raise ArgumentError, ~r/-3/, fn -> Neighbour.list(sock, -3) end
      assert_raise ArgumentError, ~r/:dev/, fn -> Neighbour.list(sock, dev: "x1") end
      assert_raise ArgumentError, ~r/:ipx/, fn -> Neighbour.list(sock, family: :ipx) end

      assert_raise ArgumentError, ~r/:force/, fn ->
        Neighbour.delete(sock, "x1", "10.0.0.1", force: true)
      end

      assert_raise ArgumentError, ~r/"1.2.3"/, fn -> Neighbour.delete(sock, "x1", "1.2.3") end
    end
  end
end
