defmodule Linx.Netlink.Rtnl.RouteTest do
  # Golden bytes from /usr/include/linux/rtnetlink.h (struct rtmsg, struct rtnexthop,
  # RTA_*/RTAX_* numbers), the builder's rules and bad input without a kernel; then every
  # verb live in a private netns, checked against `ip -j route`.
  #
  # Not async: the live part builds namespaces and opens sockets, which trips the
  # process-wide fd-leak check of Linx.Netlink.SocketTest when the two overlap.
  use ExUnit.Case, async: false

  import Linx.IP, only: [sigil_IP: 2]

  alias Linx.IP
  alias Linx.Netlink.{Attr, Error, Message, Rtnl, Socket}
  alias Linx.Netlink.Rtnl.{Link, Route}
  alias Linx.Netlink.Rtnl.Route.{CacheInfo, Metrics, Path}
  alias Linx.Test.Sandbox

  doctest Route
  doctest Metrics
  doctest Path

  defp n16(v), do: <<v::native-16>>
  defp n32(v), do: <<v::native-32>>

  describe "golden bytes (rtnetlink.h)" do
    test "a gateway route: rtmsg then RTA_DST, RTA_GATEWAY, RTA_PRIORITY" do
      {:ok, r} =
        Route.build("10.1.0.0", 16, "10.0.0.1", nil, table: 100, metric: 5, protocol: :static)

      # rtm_family AF_INET, dst_len 16, src_len 0, tos 0, table 100, protocol
      # RTPROT_STATIC 4, scope RT_SCOPE_UNIVERSE 0 (it has a gateway), type RTN_UNICAST 1,
      # rtm_flags 0
      header = <<2, 16, 0, 0, 100, 4, 0, 1>> <> n32(0)

      attrs =
        (n16(8) <> n16(1) <> <<10, 1, 0, 0>>) <>
          (n16(8) <> n16(5) <> <<10, 0, 0, 1>>) <> n16(8) <> n16(6) <> n32(5)

      assert Route.encode(r) == header <> attrs
    end

    test "a device route: scope RT_SCOPE_LINK 253 and RTA_OIF, as `ip route add ... dev`" do
      {:ok, r} = Route.build("10.2.0.0", 16, nil, nil, dev: 7)
      header = <<2, 16, 0, 0, 254, 3, 253, 1>> <> n32(0)
      attrs = (n16(8) <> n16(1) <> <<10, 2, 0, 0>>) <> n16(8) <> n16(4) <> n32(7)
      assert Route.encode(r) == header <> attrs
    end

    test "a table above 255 travels in RTA_TABLE (15) with the header byte RT_TABLE_UNSPEC" do
      {:ok, r} = Route.build("10.3.0.0", 16, "10.0.0.1", nil, table: 1000)
      assert <<2, 16, 0, 0, 0, 3, 0, 1, _::32, rest::binary>> = Route.encode(r)
      assert {:ok, attrs} = Attr.parse(rest)
      assert {15, n32(1000)} in attrs
      assert Route.target_table(r) == 1000
    end

    test "RTA_MULTIPATH is an array of struct rtnexthop, each followed by its attributes" do
      {:ok, r} =
        Route.build("10.7.0.0", 16, nil, nil,
          multipath: [[gateway: "10.0.0.2", dev: 3, weight: 3], [gateway: ~IP"10.0.0.3", oif: 3]]
        )

      # rtnh_len 16, rtnh_flags 0, rtnh_hops weight-1, rtnh_ifindex; then RTA_GATEWAY
      nh1 = n16(16) <> <<0, 2>> <> n32(3) <> n16(8) <> n16(5) <> <<10, 0, 0, 2>>
      nh2 = n16(16) <> <<0, 0>> <> n32(3) <> n16(8) <> n16(5) <> <<10, 0, 0, 3>>
      assert {:ok, attrs} = Attr.parse(binary_part(Route.encode(r), 12, 44))
      assert attrs == [{1, <<10, 7, 0, 0>>}, {9, nh1 <> nh2}]
      # a multipath route has no single gateway: scope universe, as ip chooses
      assert r.scope == 0
    end

    test "RTA_METRICS nests RTAX_LOCK (1 << RTAX_MTU) and RTAX_MTU (2)" do
      {:ok, r} = Route.build("10.8.0.0", 16, "10.0.0.1", nil, metrics: [mtu: 1400, lock: [:mtu]])
      {:ok, attrs} = Attr.parse(binary_part(Route.encode(r), 12, byte_size(Route.encode(r)) - 12))

      assert {8, n16(8) <> n16(1) <> n32(4) <> n16(8) <> n16(2) <> n32(1400)} in attrs
    end

    test "IPv6: link-local gateway with zone, preference, expiry, source prefix, prefsrc" do
      {:ok, r} =
        Route.build("2001:db8:1::", 48, "fe80::1%5", nil,
          pref: :high,
          expires: 300,
          from: "2001:db8::/64",
          src: "2001:db8::1"
        )

      assert <<10, 48, 64, 0, 254, 3, 0, 1, _::32, rest::binary>> = Route.encode(r)
      {:ok, attrs} = Attr.parse(rest)
      assert {2, IP.parse!("2001:db8::").bytes} in attrs
      assert {4, n32(5)} in attrs
      assert {5, IP.parse!("fe80::1").bytes} in attrs
      assert {7, IP.parse!("2001:db8::1").bytes} in attrs
      # ICMPV6_ROUTER_PREF_HIGH (linux/icmpv6.h)
      assert {20, <<1>>} in attrs
      assert {23, n32(300)} in attrs
    end

    test "types, scopes and the onlink flag go in the header" do
      {:ok, r} = Route.build("10.9.0.0", 16, nil, nil, type: :blackhole, table: :local)
      assert <<2, 16, 0, 0, 255, 3, 0, 6, 0::32, _::binary>> = Route.encode(r)

      {:ok, r} = Route.build("10.9.0.1", 32, nil, nil, type: :local, dev: 2)
      # RTN_LOCAL gets RT_SCOPE_HOST (254)
      assert <<2, 32, 0, 0, 254, 3, 254, 2, _::binary>> = Route.encode(r)

      {:ok, r} = Route.build("10.9.0.0", 16, "10.0.0.9", nil, onlink: true, dev: 2, scope: :link)
      # RTNH_F_ONLINK 4 in rtm_flags
      assert <<2, 16, 0, 0, 254, 3, 253, 1, 4::native-32, _::binary>> = Route.encode(r)

      {:ok, r} = Route.build("10.9.0.0", 16, nil, 200, type: 9, protocol: 186, tos: 16)
      assert <<2, 16, 0, 16, 254, 186, 200, 9, _::binary>> = Route.encode(r)
    end

    test "nhid: RTA_NH_ID (30); via: RTA_VIA (18) with struct rtvia" do
      {:ok, r} = Route.build("10.10.0.0", 16, nil, nil, nhid: 42)
      {:ok, attrs} = Attr.parse(binary_part(Route.encode(r), 12, 16))
      assert {30, n32(42)} in attrs
      # a nexthop object has the gateway: scope universe
      assert r.scope == 0

      {:ok, r} = Route.build("10.11.0.0", 16, nil, nil, via: "fe80::1", dev: 2)
      {:ok, attrs} = Attr.parse(binary_part(Route.encode(r), 12, byte_size(Route.encode(r)) - 12))
      assert {18, n16(10) <> IP.parse!("fe80::1").bytes} in attrs
    end

    test "delete/5's request matches any protocol, type and scope unless narrowed" do
      {:ok, r} = Route.build("10.1.0.0", 16, nil, 255, protocol: 0, type: 0)
      assert <<2, 16, 0, 0, 254, 0, 255, 0, _::binary>> = Route.encode(r)
    end
  end

  describe "decoding" do
    test "every attribute decodes, and the fast decoder agrees with the codec" do
      cache =
        <<1::native-32, 2::native-32, -3::native-signed-32, 4::native-32, 5::native-32,
          6::native-32, 7::native-32, 8::native-32>>

      route = %Route{
        family: 2,
        dst_len: 24,
        src_len: 0,
        tos: 0,
        table: 0,
        protocol: 4,
        scope: 0,
        type: 1,
        flags: 0x200,
        dst: ~IP"10.1.2.0",
        iif: 3,
        oif: 4,
        gateway: ~IP"10.0.0.1",
        priority: 7,
        prefsrc: ~IP"10.0.0.2",
        metrics: Metrics.new(mtu: 1400, cc_algo: "cubic", rtt: 800),
        multipath: [%Path{gateway: ~IP"10.0.0.5", oif: 4, weight: 2, flags: 4}],
        flow: 9,
        cacheinfo: CacheInfo.decode(cache),
        table_ext: 1000,
        mark: 11,
        via: ~IP"fe80::1",
        pref: 1,
        encap_type: 1,
        encap: <<1, 2, 3, 4>>,
        expires: 60,
        uid: 1000,
        nh_id: 12
      }

      bin = Route.encode(route)
      assert Route.decode(bin) == route
      assert Route.decode_fast(bin) == route
      assert route.cacheinfo.expires == -3
    end

    test "the fast decoder covers every attribute of the codec" do
      codec = for {id, name, _} <- Route.__codec__().attrs, do: {id, name}
      fast = for {id, name, _} <- Route.fast_attrs(), do: {id, name}
      assert codec == fast
    end

    test "the fast decoder equals the codec on random and truncated input, never raising" do
      :rand.seed(:exsss, {1, 2, ExUnit.configuration()[:seed] || 3})

      {:ok, sample} =
        Route.build("10.7.0.0", 16, nil, nil,
          multipath: [[gateway: "10.0.0.2", dev: 3]],
          metrics: [mtu: 1]
        )

      sample = Route.encode(sample)

      for _ <- 1..3000 do
        bin =
          case :rand.uniform(3) do
            1 -> :crypto.strong_rand_bytes(:rand.uniform(80))
            2 -> binary_part(sample, 0, :rand.uniform(byte_size(sample)))
            3 -> flip(sample)
          end

        assert Route.decode_fast(bin) == Route.decode(bin)
      end
    end

    test "NLA_F_NESTED on a nest does not hide it; first of repeated attributes wins" do
      metrics = n16(8) <> n16(2) <> n32(1500)
      body = <<2, 0, 0, 0, 254, 2, 0, 1>> <> n32(0)

      bin =
        body <>
          Attr.encode([{0x8008, metrics}, {4, n32(1)}, {4, n32(2)}, {1, <<1, 2, 3>>}])

      r = Route.decode_fast(bin)
      assert r == Route.decode(bin)
      assert %Route{oif: 1, dst: nil, metrics: %Metrics{mtu: 1500}} = r
    end

    test "decode_message takes RTM_NEWROUTE and RTM_DELROUTE only" do
      {:ok, r} = Route.build("10.1.0.0", 16, "10.0.0.1", nil)
      payload = Route.encode(r)

      assert %Route{dst: ~IP"10.1.0.0"} =
               Route.decode_message(%Message{type: 24, payload: payload})

      assert %Route{} = Route.decode_message(%Message{type: 25, payload: payload})
      assert Route.decode_message(%Message{type: 16, payload: payload}) == nil
    end

    test "names" do
      r = %Route{type: 7, scope: 253, protocol: 186, flags: 0x14}
      assert Route.type_name(r) == :unreachable
      assert Route.scope_name(r) == :link
      assert Route.protocol_name(r) == :bgp
      assert Route.flag_names(r) == [:onlink, :linkdown]
      assert Route.type_name(%Route{type: 77}) == 77
      assert Metrics.locked(%Metrics{lock: 0b1000100}) == [:mtu, :ssthresh]
    end

    defp flip(bin) do
      i = :rand.uniform(byte_size(bin)) - 1
      <<a::binary-size(i), b, rest::binary>> = bin
      <<a::binary, Bitwise.bxor(b, :rand.uniform(255))::8, rest::binary>>
    end
  end

  describe "Inspect" do
    test "0.2's form, plus type, nexthops, scope and prefsrc when present" do
      {:ok, r} = Route.build("10.1.0.0", 16, "10.0.0.1", nil, metric: 5, table: 100, protocol: 4)

      assert inspect(r) ==
               "#Linx.Netlink.Rtnl.Route<10.1.0.0/16 via 10.0.0.1 table=100 metric=5 proto=4>"

      {:ok, r} = Route.build("0.0.0.0", 0, "10.0.0.1", nil)
      assert inspect(r) == "#Linx.Netlink.Rtnl.Route<default via 10.0.0.1>"

      {:ok, r} = Route.build("10.2.0.0", 16, nil, nil, type: :blackhole)
      assert inspect(r) == "#Linx.Netlink.Rtnl.Route<blackhole 10.2.0.0/16>"

      {:ok, r} =
        Route.build("10.7.0.0", 16, nil, nil,
          multipath: [[gateway: "10.0.0.2", dev: 3, weight: 3], [dev: 4]]
        )

      assert inspect(r) ==
               "#Linx.Netlink.Rtnl.Route<10.7.0.0/16 nexthops=[via 10.0.0.2 oif=3 weight=3, oif=4]>"

      {:ok, r} = Route.build("10.2.0.0", 16, nil, nil, dev: 3, src: "10.0.0.1")

      assert inspect(r) ==
               "#Linx.Netlink.Rtnl.Route<10.2.0.0/16 oif=3 scope=link prefsrc=10.0.0.1>"
    end
  end

  describe "bad input raises ArgumentError naming the value" do
    test "prefix out of range for the family" do
      assert_raise ArgumentError, ~r/prefix length 33/, fn ->
        Route.build("10.0.0.0", 33, nil, nil)
      end

      assert_raise ArgumentError, ~r/prefix length 129/, fn ->
        Route.build("2001:db8::", 129, nil, nil)
      end

      assert_raise ArgumentError, ~r/prefix length -1/, fn ->
        Route.build("10.0.0.0", -1, nil, nil)
      end
    end

    test "bad table, type, scope, protocol, metric" do
      for {opt, value} <- [
            table: 0,
            table: 0x1_0000_0000,
            table: :nope,
            table: "main",
            type: :bogus,
            type: 256,
            scope: :galaxy,
            protocol: :quagga,
            protocol: -1,
            metric: -1,
            metric: 0x1_0000_0000,
            tos: 256,
            nhid: 0,
            onlink: :yes
          ] do
        e =
          assert_raise ArgumentError, fn ->
            Route.build("10.0.0.0", 8, nil, nil, [{opt, value}])
          end

        assert e.message =~ inspect(value), "#{inspect({opt, value})}: #{e.message}"
      end
    end

    test "gateway, prefsrc or from of the other family" do
      assert_raise ArgumentError, ~r/"2001:db8::1".*family mismatch/, fn ->
        Route.build("10.0.0.0", 8, "2001:db8::1", nil)
      end

      assert_raise ArgumentError, ~r/"10.0.0.1".*family mismatch/, fn ->
        Route.build("2001:db8::", 32, nil, nil, src: "10.0.0.1")
      end

      assert_raise ArgumentError, ~r/family mismatch/, fn ->
        Route.build("10.0.0.0", 8, nil, nil, multipath: [[gateway: "fe80::1", dev: 2]])
      end
    end

    test "unknown options and malformed values" do
      assert_raise ArgumentError, ~r/unknown route option \{:gw, "10.0.0.1"\}/, fn ->
        Route.build("10.0.0.0", 8, nil, nil, gw: "10.0.0.1")
      end

      assert_raise ArgumentError, ~r/bad destination address: "10.0.0.256"/, fn ->
        Route.build("10.0.0.256", 8, nil, nil)
      end

      assert_raise ArgumentError, ~r/bad gateway address: "10.1"/, fn ->
        Route.build("10.0.0.0", 8, "10.1", nil)
      end

      assert_raise ArgumentError, ~r/unknown route metric :mtux/, fn ->
        Route.build("10.0.0.0", 8, nil, nil, metrics: [mtux: 1])
      end

      assert_raise ArgumentError, ~r/route metric :mtu: -1/, fn ->
        Route.build("10.0.0.0", 8, nil, nil, metrics: [mtu: -1])
      end

      assert_raise ArgumentError, ~r/multipath nexthop option \{:weight, 0\}/, fn ->
        Route.build("10.0.0.0", 8, nil, nil, multipath: [[weight: 0]])
      end

      assert_raise ArgumentError, ~r/IPv6 routes only/, fn ->
        Route.build("10.0.0.0", 8, nil, nil, pref: :high)
      end

      assert_raise ArgumentError, ~r/:dev as an ifindex.*"eth0"/, fn ->
        Route.build("10.0.0.0", 8, nil, nil, dev: "eth0")
      end

      assert_raise ArgumentError, ~r/keyword list/, fn ->
        Route.build("10.0.0.0", 8, nil, nil, %{})
      end
    end

    test "verbs check before any I/O (a closed socket is never reached)" do
      {:ok, sock} = Rtnl.open()
      Socket.close(sock)

      assert_raise ArgumentError, ~r/prefix length 33/, fn ->
        Route.add(sock, "10.0.0.0", 33, nil)
      end

      assert_raise ArgumentError, ~r/prefix length 33/, fn ->
        Route.add(sock, "10.0.0.0", 33, nil, dev: "eth0")
      end

      assert_raise ArgumentError, ~r/:nope/, fn -> Route.list(sock, nope: 1) end

      assert_raise ArgumentError, ~r/:tabel/, fn ->
        Route.delete(sock, "10.0.0.0", 8, nil, tabel: 5)
      end

      assert_raise ArgumentError, ~r/"bad"/, fn -> Route.get(sock, "bad") end

      assert_raise ArgumentError, ~r/invalid interface name "has space"/, fn ->
        Route.add(sock, "10.0.0.0", 8, nil, dev: "has space")
      end

      assert_raise ArgumentError, ~r/a route is/, fn -> Route.add_many(sock, [:x]) end
    end
  end

  # --- live -----------------------------------------------------------------------------

  describe "live" do
    @describetag :root
    @describetag :iproute2

    setup do
      ns = Sandbox.netns!(tag: "route")

      for args <- [
            ~w(link add v0 type veth peer name v1),
            ~w(link set v0 up),
            ~w(link set v1 up),
            ~w(addr add 10.0.0.1/24 dev v0),
            ~w(addr add 2001:db8::1/64 dev v0 nodad)
          ],
          do: Sandbox.ip!(ns.name, args)

      {:ok, sock} = Rtnl.open({:path, ns.path})
      on_exit(fn -> Socket.close(sock) end)
      {:ok, v0} = Link.resolve(sock, "v0")
      %{ns: ns, sock: sock, v0: v0}
    end

    defp ip4(ns, args), do: Sandbox.ip_json!(ns.name, ~w(route show) ++ args)
    defp ip6(ns, args), do: Sandbox.ip_json!(ns.name, ~w(-6 route show) ++ args)

    test "gateway route: add, duplicate, list, get, replace, delete (IPv4 and IPv6)", %{
      ns: ns,
      sock: sock,
      v0: v0
    } do
      assert :ok = Route.add(sock, "10.1.0.0", 16, "10.0.0.2", metric: 5)
      assert [%{"gateway" => "10.0.0.2", "dev" => "v0", "metric" => 5}] = ip4(ns, ~w(10.1.0.0/16))

      assert {:error, %Error{errno: :eexist, operation: :add_route, object: obj}} =
               Route.add(sock, "10.1.0.0", 16, "10.0.0.2", metric: 5)

      assert obj == ~IP"10.1.0.0/16"

      {:ok, routes} = Route.list(sock)
      r = Enum.find(routes, &(&1.dst == ~IP"10.1.0.0"))
      assert %Route{dst_len: 16, gateway: ~IP"10.0.0.2", oif: ^v0, priority: 5, protocol: 3} = r
      assert Route.target_table(r) == 254

      assert {:ok, %Route{gateway: ~IP"10.0.0.2", oif: ^v0}} = Route.get(sock, "10.1.2.3")
      assert {:ok, %Route{dst: ~IP"10.0.0.7"}} = Route.get(sock, ~IP"10.0.0.7")

      assert :ok = Route.replace(sock, "10.1.0.0", 16, "10.0.0.3", metric: 5)
      assert [%{"gateway" => "10.0.0.3"}] = ip4(ns, ~w(10.1.0.0/16))
      assert :ok = Route.delete(sock, "10.1.0.0", 16, "10.0.0.3", metric: 5)
      assert [] = ip4(ns, ~w(10.1.0.0/16))

      assert {:error, %Error{errno: :esrch, operation: :delete_route}} =
               Route.delete(sock, "10.1.0.0", 16, "10.0.0.3")

      assert :ok = Route.add(sock, "2001:db8:1::", 48, "2001:db8::2")
      # the kernel's default IPv6 metric (IP6_RT_PRIO_USER)
      assert [%{"gateway" => "2001:db8::2", "metric" => 1024}] = ip6(ns, ~w(2001:db8:1::/48))

      assert {:ok, %Route{family: 10, gateway: ~IP"2001:db8::2"}} =
               Route.get(sock, "2001:db8:1::5")

      assert :ok = Route.delete(sock, "2001:db8:1::", 48, "2001:db8::2")
      assert [] = ip6(ns, ~w(2001:db8:1::/48))
    end

    test "get of an unroutable destination is ENETUNREACH", %{sock: sock} do
      assert {:error, %Error{errno: :enetunreach, operation: :get_route, object: ~IP"192.0.2.1"}} =
               Route.get(sock, "192.0.2.1")
    end

    test "device routes without a gateway, and deleting them (0.2 crashed)", %{ns: ns, sock: sock} do
      assert :ok = Route.add(sock, "10.2.0.0", 16, nil, dev: "v0", src: "10.0.0.1")

      assert [%{"dev" => "v0", "scope" => "link", "prefsrc" => "10.0.0.1"} = j] =
               ip4(ns, ~w(10.2.0.0/16))

      refute Map.has_key?(j, "gateway")

      assert :ok = Route.add(sock, "2001:db8:2::", 48, nil, dev: "v0")
      assert [%{"dev" => "v0"}] = ip6(ns, ~w(2001:db8:2::/48))

      assert :ok = Route.delete(sock, "10.2.0.0", 16, nil)
      assert :ok = Route.delete(sock, "2001:db8:2::", 48, nil, dev: "v0")
      assert [] = ip4(ns, ~w(10.2.0.0/16))
      assert [] = ip6(ns, ~w(2001:db8:2::/48))
    end

    test "IPv6 link-local gateways: by zone or with dev; a zone naming no link is ENODEV", %{
      ns: ns,
      sock: sock
    } do
      assert :ok = Route.add(sock, "2001:db8:3::", 48, "fe80::1%v0")
      assert :ok = Route.add(sock, "2001:db8:4::", 48, ~IP"fe80::2", dev: "v0")

      assert [%{"gateway" => "fe80::1", "dev" => "v0"}] = ip6(ns, ~w(2001:db8:3::/48))
      assert [%{"gateway" => "fe80::2", "dev" => "v0"}] = ip6(ns, ~w(2001:db8:4::/48))

      assert {:error, %Error{errno: :enodev, message: "no such interface \"nope0\""}} =
               Route.add(sock, "2001:db8:5::", 48, "fe80::1%nope0")

      assert_raise ArgumentError, ~r/names interface "v1" but :dev is "v0"/, fn ->
        Route.add(sock, "2001:db8:5::", 48, "fe80::1%v1", dev: "v0")
      end
    end

    test "route types and tables by number and name", %{ns: ns, sock: sock} do
      for {type, dst} <- [
            blackhole: "10.3.0.0",
            unreachable: "10.4.0.0",
            prohibit: "10.5.0.0",
            throw: "10.6.0.0"
          ] do
        assert :ok = Route.add(sock, dst, 16, nil, type: type, table: 100)
      end

      assert :ok = Route.add(sock, "10.9.9.9", 32, nil, type: :local, dev: "v0", table: :local)
      assert :ok = Route.add(sock, "10.12.0.0", 16, nil, type: :blackhole, table: 70_000)

      types =
        for r <- Sandbox.ip_json!(ns.name, ~w(route show table 100)),
            into: %{},
            do: {r["dst"], r["type"]}

      assert types == %{
               "10.3.0.0/16" => "blackhole",
               "10.4.0.0/16" => "unreachable",
               "10.5.0.0/16" => "prohibit",
               "10.6.0.0/16" => "throw"
             }

      assert {:ok, t100} = Route.list(sock, table: 100)

      assert Enum.map(t100, &Route.type_name/1) |> Enum.sort() == [
               :blackhole,
               :prohibit,
               :throw,
               :unreachable
             ]

      # the header byte of a table above 255 reads RT_TABLE_COMPAT (252)
      assert {:ok, [%Route{table: 252, table_ext: 70_000} = big]} =
               Route.list(sock, table: 70_000)

      assert Route.target_table(big) == 70_000
      assert {:ok, local} = Route.list(sock, table: :local, family: :inet)
      assert Enum.any?(local, &(&1.dst == ~IP"10.9.9.9" and Route.type_name(&1) == :local))

      assert [%{"type" => "local", "scope" => "host"}] =
               Sandbox.ip_json!(ns.name, ~w(route show table local 10.9.9.9))

      # deletes match any type unless told
      assert :ok = Route.delete(sock, "10.3.0.0", 16, nil, table: 100)

      assert {:error, %Error{errno: :esrch}} =
               Route.delete(sock, "10.4.0.0", 16, nil, table: 100, type: :prohibit)

      assert :ok = Route.delete(sock, "10.4.0.0", 16, nil, table: 100, type: :unreachable)
    end

    test "list filters: table, family, protocol, type, dev; a missing table is empty", %{
      sock: sock,
      v0: v0
    } do
      :ok = Route.add(sock, "10.20.0.0", 16, "10.0.0.2", table: 200, protocol: :bird)
      :ok = Route.add(sock, "10.21.0.0", 16, nil, table: 200, type: :blackhole)
      :ok = Route.add(sock, "2001:db8:20::", 48, nil, table: 200, dev: "v0")

      {:ok, all} = Route.list(sock)
      assert Enum.count(all, &(Route.target_table(&1) == 200)) == 3

      assert {:ok, rs} = Route.list(sock, table: 200)
      assert length(rs) == 3
      assert {:ok, [_, _]} = Route.list(sock, table: 200, family: :inet)
      assert {:ok, [%Route{family: 10}]} = Route.list(sock, table: 200, family: :inet6)
      assert {:ok, [%Route{dst: ~IP"10.20.0.0"}]} = Route.list(sock, table: 200, protocol: :bird)
      assert {:ok, [%Route{type: 6}]} = Route.list(sock, table: 200, type: :blackhole)

      assert {:ok, rs} = Route.list(sock, dev: "v0", table: 200)
      assert Enum.all?(rs, &(&1.oif == v0)) and length(rs) == 2

      assert {:ok, []} = Route.list(sock, table: 4242, family: :inet)
      assert {:ok, []} = Route.list(sock, table: 4242)
      assert {:error, %Error{errno: :enodev}} = Route.list(sock, dev: "nope0")

      assert {:ok, 3} = Route.fold(sock, 0, fn _, n -> n + 1 end, table: 200)
    end

    test "metrics, multipath with weights, onlink, append", %{ns: ns, sock: sock} do
      :ok =
        Route.add(sock, "10.30.0.0", 16, "10.0.0.2",
          metrics: [mtu: 1400, advmss: 1360, initcwnd: 10, cc_algo: "cubic", lock: [:mtu]]
        )

      assert [%{"metrics" => [m]}] = ip4(ns, ~w(10.30.0.0/16))
      assert m == %{"mtu" => 1400, "advmss" => 1360, "initcwnd" => 10, "congestion" => "cubic"}

      {:ok, [r]} =
        Route.list(sock, family: :inet, table: :main)
        |> then(fn {:ok, l} -> {:ok, Enum.filter(l, &(&1.dst == ~IP"10.30.0.0"))} end)

      assert %Metrics{mtu: 1400, advmss: 1360, initcwnd: 10, cc_algo: "cubic"} = r.metrics
      assert Metrics.locked(r.metrics) == [:mtu]

      :ok =
        Route.add(sock, "10.31.0.0", 16, nil,
          multipath: [
            [gateway: "10.0.0.2", dev: "v0", weight: 3],
            %{gateway: "10.0.0.3", dev: "v0"}
          ]
        )

      assert [%{"nexthops" => hops}] = ip4(ns, ~w(10.31.0.0/16))
      assert Enum.map(hops, &{&1["gateway"], &1["weight"]}) == [{"10.0.0.2", 3}, {"10.0.0.3", 1}]

      :ok = Route.add(sock, "10.32.0.0", 16, "10.99.0.1", dev: "v0", onlink: true)
      assert [%{"gateway" => "10.99.0.1", "flags" => ["onlink"]}] = ip4(ns, ~w(10.32.0.0/16))

      :ok = Route.add(sock, "10.33.0.0", 16, "10.0.0.2", table: 300)
      :ok = Route.append(sock, "10.33.0.0", 16, "10.0.0.3", table: 300)

      assert [%{"gateway" => "10.0.0.2"}, %{"gateway" => "10.0.0.3"}] =
               Sandbox.ip_json!(ns.name, ~w(route show table 300))

      :ok = Route.add(sock, "2001:db8:33::", 48, "2001:db8::2")
      :ok = Route.append(sock, "2001:db8:33::", 48, "2001:db8::3")
      assert [%{"nexthops" => [_, _]}] = ip6(ns, ~w(2001:db8:33::/48))
    end

    test "default routes with and without a gateway", %{ns: ns, sock: sock} do
      assert :ok = Route.add_default(sock, "10.0.0.254")
      assert :ok = Route.add_default(sock, "2001:db8::fe", metric: 10)
      assert :ok = Route.add_default(sock, nil, dev: "v0", table: 400)
      assert :ok = Route.add_default(sock, nil, dev: "v0", table: 400, family: :inet6)

      assert [%{"dst" => "default", "gateway" => "10.0.0.254"}] = ip4(ns, ~w(default))

      assert [%{"dst" => "default", "gateway" => "2001:db8::fe", "metric" => 10}] =
               ip6(ns, ~w(default))

      assert [%{"dst" => "default", "dev" => "v0"}] =
               Sandbox.ip_json!(ns.name, ~w(route show table 400))

      {:ok, [d]} =
        Route.list(sock, family: :inet, table: :main)
        |> then(fn {:ok, l} -> {:ok, Enum.filter(l, &(&1.dst_len == 0))} end)

      assert inspect(d) =~ "default via 10.0.0.254"

      assert :ok = Route.delete_default(sock, "10.0.0.254")
      assert :ok = Route.delete_default(sock, "2001:db8::fe")
      assert :ok = Route.delete_default(sock, nil, table: 400)
      assert :ok = Route.delete_default(sock, nil, table: 400, family: :inet6)
      assert [] = ip4(ns, ~w(default))
      assert [] = Sandbox.ip_json!(ns.name, ~w(route show table all default))
    end

    test "delete/2 removes what list returned, including device and multipath routes", %{
      ns: ns,
      sock: sock
    } do
      :ok = Route.add(sock, "10.40.0.0", 16, nil, dev: "v0", table: 500)
      :ok = Route.add(sock, "10.41.0.0", 16, "10.0.0.2", table: 500, metric: 9)

      :ok =
        Route.add(sock, "10.42.0.0", 16, nil,
          table: 500,
          multipath: [[gateway: "10.0.0.2"], [gateway: "10.0.0.3"]]
        )

      :ok = Route.add(sock, "2001:db8:40::", 48, nil, dev: "v0", table: 500)
      :ok = Route.add(sock, "10.43.0.0", 16, nil, type: :unreachable, table: 500)

      {:ok, routes} = Route.list(sock, table: 500)
      assert length(routes) == 5
      for r <- routes, do: assert(:ok = Route.delete(sock, r))
      assert [] = Sandbox.ip_json!(ns.name, ~w(route show table 500))
      assert [] = Sandbox.ip_json!(ns.name, ~w(-6 route show table 500))
    end

    test "unknown device is ENODEV naming it; nonexistent nexthop id is an error", %{sock: sock} do
      assert {:error, %Error{errno: :enodev, message: "no such interface \"nope0\""}} =
               Route.add(sock, "10.50.0.0", 16, nil, dev: "nope0")

      assert {:error, %Error{operation: :add_route, message: msg}} =
               Route.add(sock, "10.50.0.0", 16, nil, nhid: 777)

      assert msg =~ "exist"
    end

    test "attributes only ip adds decode: encap (raw), realms, IPv4 via IPv6, IPv6 expiry", %{
      ns: ns,
      sock: sock
    } do
      Sandbox.ip!(
        ns.name,
        ~w(route add 10.62.0.0/16 via 10.0.0.2 encap ip id 5 dst 10.0.0.9 dev v0)
      )

      Sandbox.ip!(ns.name, ~w(route add 10.61.0.0/16 via 10.0.0.2 realms 3/4))
      Sandbox.ip!(ns.name, ~w(route add 10.60.0.0/16 via inet6 fe80::1 dev v0))
      Sandbox.ip!(ns.name, ~w(-6 route add 2001:db8:60::/48 via fe80::1 dev v0 expires 600))

      {:ok, routes} = Route.list(sock)
      by_dst = Map.new(routes, &{to_string(&1.dst), &1})

      # LWTUNNEL_ENCAP_IP (2) and its nest: LWTUNNEL_IP_ID (1, be64) and LWTUNNEL_IP_DST (2),
      # /usr/include/linux/lwtunnel.h
      enc = by_dst["10.62.0.0"]
      assert enc.encap_type == 2
      {:ok, lwt} = Attr.parse(enc.encap)
      assert {1, <<5::64>>} in lwt
      assert {2, <<10, 0, 0, 9>>} in lwt

      # RTA_FLOW: from realm << 16 | to realm
      assert by_dst["10.61.0.0"].flow == 3 * 65_536 + 4

      assert %Route{via: ~IP"fe80::1", gateway: nil} = by_dst["10.60.0.0"]
      assert inspect(by_dst["10.60.0.0"]) =~ "via inet6 fe80::1"

      # the remaining lifetime, in clock ticks (USER_HZ 100)
      assert %CacheInfo{expires: ticks} = by_dst["2001:db8:60::"].cacheinfo
      assert ticks in 50_000..60_000
    end

    test "IPv4 via an IPv6 neighbour, tos, IPv6 preference and lifetime", %{ns: ns, sock: sock} do
      assert :ok = Route.add(sock, "10.60.0.0", 16, nil, via: "fe80::1", dev: "v0")
      assert [%{"via" => %{"family" => "inet6", "host" => "fe80::1"}}] = ip4(ns, ~w(10.60.0.0/16))

      assert :ok = Route.add(sock, "10.61.0.0", 16, "10.0.0.2", tos: 0x10)
      assert [%{"tos" => "0x10"}] = ip4(ns, ~w(10.61.0.0/16))

      assert :ok = Route.add(sock, "2001:db8:61::", 48, "fe80::1%v0", pref: :low, expires: 900)
      assert [%{"pref" => "low", "expires" => e}] = ip6(ns, ~w(2001:db8:61::/48))
      assert e in 890..900
    end

    test "get/3 selectors: source, output device, mark, uid, protocol and ports", %{
      ns: ns,
      sock: sock,
      v0: v0
    } do
      :ok = Route.add(sock, "10.70.0.0", 16, "10.0.0.2")

      assert {:ok,
              %Route{
                dst: ~IP"10.70.1.1",
                src: ~IP"10.0.0.1",
                src_len: 32,
                oif: ^v0,
                gateway: ~IP"10.0.0.2"
              }} =
               Route.get(sock, "10.70.1.1", from: "10.0.0.1", dev: "v0", mark: 7, uid: 1000)

      assert {:ok, %Route{mark: 7, uid: 1000}} = Route.get(sock, "10.70.1.1", mark: 7, uid: 1000)

      # a policy rule on the protocol and port picks another table: the selectors reach
      # the kernel
      Sandbox.ip!(ns.name, ~w(rule add ipproto tcp dport 80 table 900))
      :ok = Route.add(sock, "10.70.0.0", 16, "10.0.0.3", table: 900)

      assert {:ok, %Route{gateway: ~IP"10.0.0.3"}} =
               Route.get(sock, "10.70.1.1", ip_proto: :tcp, sport: 1234, dport: 80)

      assert {:ok, %Route{gateway: ~IP"10.0.0.2"}} =
               Route.get(sock, "10.70.1.1", ip_proto: 17, dport: 80)

      assert_raise ArgumentError, ~r/:sctpx/, fn ->
        Route.get(sock, "10.70.1.1", ip_proto: :sctpx)
      end

      assert_raise ArgumentError, ~r/70000/, fn -> Route.get(sock, "10.70.1.1", dport: 70_000) end
      assert {:error, %Error{errno: :enodev}} = Route.get(sock, "10.70.1.1", dev: "nope0")
      assert_raise ArgumentError, ~r/:bogus/, fn -> Route.get(sock, "10.70.1.1", bogus: 1) end
    end

    test "add_many across the 32-bit sequence wrap maps every failure to its route", %{sock: sock} do
      # the next sequence numbers are 0xFFFFFFF6.., wrapping to 1 after 0xFFFFFFFF
      :atomics.put(sock.seq, 1, 0xFFFFFFF5)
      routes = for i <- 0..29, do: {"10.80.#{i}.0", 24, nil}
      :ok = Route.add(sock, "10.80.12.0", 24, nil, dev: "v0", table: 800)
      :ok = Route.add(sock, "10.80.25.0", 24, nil, dev: "v0", table: 800)

      assert {:error,
              [
                {{"10.80.12.0", 24, nil}, %Error{errno: :eexist}},
                {{"10.80.25.0", 24, nil}, %Error{errno: :eexist}}
              ]} =
               Route.add_many(sock, routes, dev: "v0", table: 800, per_send: 7)

      assert {:ok, 30} = Route.fold(sock, 0, fn _, n -> n + 1 end, table: 800)
      # it did wrap: the counter is past 2^32 - 1 again
      assert Socket.next_seq(sock) < 100
    end

    test "add_many: 10,000 routes in one call, then delete_many", %{ns: ns, sock: sock} do
      routes =
        for i <- 0..9_999, do: {IP.from_tuple({10, 100 + div(i, 256), rem(i, 256), 0}), 24, nil}

      assert :ok = Route.add_many(sock, routes, dev: "v0", table: 600)
      assert {:ok, 10_000} = Route.fold(sock, 0, fn _, n -> n + 1 end, table: 600)
      {:ok, listed} = Route.list(sock, table: 600)

      assert Enum.map(listed, &{&1.dst, &1.dst_len}) |> Enum.sort() ==
               Enum.map(routes, &{elem(&1, 0), 24}) |> Enum.sort()

      assert Enum.all?(listed, &(Route.scope_name(&1) == :link))

      ip_count =
        ns.name
        |> Sandbox.ip!(~w(route show table 600))
        |> String.split("\n", trim: true)
        |> length()

      assert ip_count == 10_000

      assert :ok = Route.delete_many(sock, routes, table: 600)
      assert {:ok, []} = Route.list(sock, table: 600)
    end

    test "add_many reports every failure with its route, and adds all the others", %{
      ns: ns,
      sock: sock
    } do
      routes = for i <- 0..9_999, do: {"10.#{200 + div(i, 256)}.#{rem(i, 256)}.0", 24, "10.0.0.2"}
      # already there: EEXIST for those two
      :ok = Route.add(sock, "10.203.7.0", 24, "10.0.0.2", table: 700)
      :ok = Route.add(sock, "10.230.1.0", 24, "10.0.0.2", table: 700)
      # a gateway no connected network reaches: ENETUNREACH, and one with its own options
      bad_gw = {"10.250.0.0", 24, "192.0.2.1"}
      own = {"10.251.0.0", 24, nil, [type: :blackhole]}
      missing_nh = {"10.252.0.0", 24, nil, [nhid: 4242]}

      routes =
        List.insert_at(routes, 5000, bad_gw)
        |> List.insert_at(7000, own)
        |> List.insert_at(9000, missing_nh)

      assert {:error, failures} = Route.add_many(sock, routes, table: 700, per_send: 100)

      assert [
               {{"10.203.7.0", 24, "10.0.0.2"}, %Error{errno: :eexist} = e1},
               {^bad_gw, %Error{errno: :enetunreach}},
               {{"10.230.1.0", 24, "10.0.0.2"}, %Error{errno: :eexist}},
               {^missing_nh, %Error{message: m}}
             ] = failures

      assert e1.operation == :add_route
      assert e1.object == "10.203.7.0/24"
      assert m =~ "exist"

      {:ok, n} = Route.fold(sock, 0, fn _, n -> n + 1 end, table: 700)
      # 10,000 + 1 own, of which 2 existed before
      assert n == 10_001

      assert [%{"type" => "blackhole"}] =
               Sandbox.ip_json!(ns.name, ~w(route show table 700 10.251.0.0/24))

      # deleting everything (and three that are absent) reports exactly those three
      assert {:error, del} = Route.delete_many(sock, routes, table: 700)
      assert [{^bad_gw, %Error{errno: :esrch}}, {^missing_nh, %Error{}}] = del
      assert {:ok, []} = Route.list(sock, table: 700)
    end
  end
end
