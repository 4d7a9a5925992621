defmodule Linx.Netlink.Rtnl.NexthopTest do
  # Golden bytes from /usr/include/linux/nexthop.h (struct nhmsg, struct nexthop_grp,
  # NHA_* and NHA_RES_GROUP_*), bad input, then every verb live in a private netns,
  # checked against `ip -j nexthop` (and `ip -j route` for routes using them).
  #
  # Not async for the same reason as the other live rtnl tests (the fd-leak check).
  use ExUnit.Case, async: false

  import Linx.IP, only: [sigil_IP: 2]

  alias Linx.Netlink.{Attr, Error, Message, Rtnl, Socket}
  alias Linx.Netlink.Rtnl.{Link, Nexthop, Route}
  alias Linx.Netlink.Rtnl.Nexthop.ResGroup
  alias Linx.Test.Sandbox

  defp n16(v), do: <<v::native-16>>
  defp n32(v), do: <<v::native-32>>

  defp payload(kv, oif \\ nil) do
    gw = if g = kv[:gateway], do: Linx.IP.parse!(g)
    {:ok, nh} = Nexthop.build(kv, gw, oif)
    IO.iodata_to_binary(Nexthop.encode_request(nh))
  end

  describe "golden bytes (nexthop.h)" do
    test "a gateway nexthop: nhmsg then NHA_ID, NHA_OIF, NHA_GATEWAY" do
      # nh_family AF_INET, nh_scope 0, nh_protocol 0, resvd, nh_flags 0
      assert payload([id: 7, gateway: "10.0.0.2"], 3) ==
               <<2, 0, 0, 0>> <>
                 n32(0) <>
                 n16(8) <>
                 n16(1) <>
                 n32(7) <> n16(8) <> n16(5) <> n32(3) <> n16(8) <> n16(6) <> <<10, 0, 0, 2>>
    end

    test "onlink and protocol go in the header" do
      assert <<10, 0, 4, 0, 4::native-32, _::binary>> =
               payload([id: 1, gateway: "fe80::1", onlink: true, protocol: :static], 2)
    end

    test "a group: AF_UNSPEC, NHA_GROUP of struct nexthop_grp {id, weight - 1, resvd}" do
      assert payload(id: 10, group: [{1, 3}, 2]) ==
               <<0, 0, 0, 0>> <>
                 n32(0) <>
                 n16(8) <>
                 n16(1) <>
                 n32(10) <>
                 n16(20) <> n16(2) <> n32(1) <> <<2, 0, 0, 0>> <> n32(2) <> <<0, 0, 0, 0>>
    end

    test "a resilient group: NHA_GROUP_TYPE 1 and the NHA_RES_GROUP nest with NLA_F_NESTED" do
      bin = payload(id: 11, group: [1, 2], type: :resilient, buckets: 32, idle_timer: 60)
      assert <<0, 0, 0, 0, 0::32, rest::binary>> = bin
      {:ok, attrs} = Attr.parse(rest)
      assert {3, n16(1)} in attrs
      # buckets (u16) then the idle timer in clock ticks (USER_HZ 100)
      nest = n16(6) <> n16(1) <> n16(32) <> <<0, 0>> <> n16(8) <> n16(2) <> n32(6000)
      assert {0x800C, nest} in attrs
    end

    test "blackhole and fdb are flags; a device-only nexthop defaults to AF_INET" do
      assert payload(id: 4, blackhole: true) ==
               <<2, 0, 0, 0>> <> n32(0) <> n16(8) <> n16(1) <> n32(4) <> n16(4) <> n16(4)

      assert <<10, _::binary>> = payload([id: 5, family: :inet6], 2)

      {:ok, attrs} =
        Attr.parse(binary_part(payload(id: 6, gateway: "10.0.0.9", fdb: true), 8, 20))

      assert {11, <<>>} in attrs
    end

    test "16-bit weights use the byte after the weight (weight_high since Linux 6.12)" do
      assert Nexthop.Group.encode([{1, 300}]) == n32(1) <> <<43, 1, 0, 0>>

      assert Nexthop.Group.decode(n32(1) <> <<43, 1, 0, 0>> <> n32(2) <> <<0, 0, 0, 0>>) == [
               {1, 300},
               {2, 1}
             ]
    end
  end

  describe "decoding" do
    test "round trip of every attribute; garbage never raises" do
      nh = %Nexthop{
        family: 2,
        scope: 253,
        protocol: 4,
        flags: 4,
        id: 9,
        group: [{1, 2}, {3, 1}],
        group_type: 1,
        blackhole: true,
        oif: 3,
        gateway: ~IP"10.0.0.1",
        encap_type: 1,
        encap: <<1, 2, 3, 4>>,
        master: 5,
        fdb: true,
        res_group: %ResGroup{
          buckets: 8,
          idle_timer: 6000,
          unbalanced_timer: 0,
          unbalanced_time: 12
        }
      }

      assert Nexthop.decode(Nexthop.encode(nh)) == nh
      assert Nexthop.flag_names(nh) == [:onlink]
      assert Nexthop.group_type_name(nh) == :resilient

      for _ <- 1..500,
          do: assert(%Nexthop{} = Nexthop.decode(:crypto.strong_rand_bytes(:rand.uniform(60))))
    end

    test "decode_message takes RTM_NEWNEXTHOP and RTM_DELNEXTHOP only" do
      bin = payload(id: 4, blackhole: true)

      assert %Nexthop{id: 4, blackhole: true} =
               Nexthop.decode_message(%Message{type: 104, payload: bin})

      assert %Nexthop{id: 4} = Nexthop.decode_message(%Message{type: 105, payload: bin})
      assert Nexthop.decode_message(%Message{type: 24, payload: bin}) == nil
    end

    test "Inspect" do
      {:ok, nh} = Nexthop.build([id: 1, gateway: "10.0.0.2"], ~IP"10.0.0.2", 3)
      assert inspect(nh) == "#Linx.Netlink.Rtnl.Nexthop<id=1 via 10.0.0.2 oif=3>"
      {:ok, g} = Nexthop.build([id: 3, group: [{1, 5}, 2]], nil, nil)
      assert inspect(g) == "#Linx.Netlink.Rtnl.Nexthop<id=3 group=1/5,2>"
      {:ok, r} = Nexthop.build([id: 5, group: [1, 2], type: :resilient, buckets: 8], nil, nil)
      assert inspect(r) == "#Linx.Netlink.Rtnl.Nexthop<id=5 resilient group=1,2 buckets=8>"
      {:ok, b} = Nexthop.build([id: 4, blackhole: true], nil, nil)
      assert inspect(b) == "#Linx.Netlink.Rtnl.Nexthop<id=4 blackhole>"
    end
  end

  describe "bad input raises ArgumentError naming the value" do
    test "ids, weights, types, options" do
      {:ok, sock} = Rtnl.open()
      Socket.close(sock)

      for {spec, pattern} <- [
            {[id: 0], ~r/nexthop id 0/},
            {[id: -1], ~r/nexthop id -1/},
            {[id: 1, group: [{2, 0}]], ~r/weight 0/},
            {[id: 1, group: [{2, 65_537}]], ~r/weight 65537/},
            {[id: 1, group: []], ~r/:group: \[\]/},
            {[id: 1, group: [1], type: :roundrobin], ~r/:roundrobin/},
            {[id: 1, group: [1], buckets: 8], ~r/type: :resilient/},
            {[id: 1, blackhole: :yes], ~r/:blackhole: :yes/},
            {[id: 1, gateway: "10.0.0.300"], ~r/"10.0.0.300"/},
            {[id: 1, gateway: "10.0.0.1", family: :inet6], ~r/family mismatch/},
            {[id: 1, protocol: :quagga], ~r/:quagga/},
            {[id: 1, via: "10.0.0.1"], ~r/unknown nexthop option \{:via, "10.0.0.1"\}/},
            {[id: 1, dev: "a/b"], ~r/"a\/b"/}
          ] do
        assert_raise ArgumentError, pattern, fn -> Nexthop.add(sock, spec) end
      end

      assert_raise ArgumentError, ~r/nexthop id "1"/, fn -> Nexthop.get(sock, "1") end
      assert_raise ArgumentError, ~r/nexthop id nil/, fn -> Nexthop.delete(sock, nil) end
      assert_raise ArgumentError, ~r/:bogus/, fn -> Nexthop.list(sock, bogus: 1) end

      assert_raise ArgumentError, ~r/keyword list, map or %Nexthop/, fn ->
        Nexthop.add(sock, 5)
      end
    end
  end

  describe "live" do
    @describetag :root
    @describetag :iproute2

    setup do
      ns = Sandbox.netns!(tag: "nexthop")

      for args <- [
            ~w(link add v0 type veth peer name v1),
            ~w(link set v0 up),
            ~w(link set v1 up),
            ~w(addr add 10.0.0.1/24 dev v0),
            ~w(addr add 2001:db8::1/64 dev v0 nodad),
            ~w(link add br0 type bridge),
            ~w(link set v1 master br0)
          ],
          do: Sandbox.ip!(ns.name, args)

      {:ok, sock} = Rtnl.open({:path, ns.path})
      on_exit(fn -> Socket.close(sock) end)
      {:ok, v0} = Link.resolve(sock, "v0")
      %{ns: ns, sock: sock, v0: v0}
    end

    defp ip_nh(ns, args \\ []), do: Sandbox.ip_json!(ns.name, ~w(nexthop show) ++ args)

    test "add, get, list, replace, delete; errors name the id", %{ns: ns, sock: sock, v0: v0} do
      assert :ok = Nexthop.add(sock, id: 1, gateway: "10.0.0.2", dev: "v0")
      assert :ok = Nexthop.add(sock, id: 2, gateway: "10.0.0.3", dev: v0, protocol: :static)
      assert :ok = Nexthop.add(sock, id: 3, gateway: "fe80::3%v0")
      assert :ok = Nexthop.add(sock, id: 4, blackhole: true)
      assert :ok = Nexthop.add(sock, id: 5, dev: "v0")
      assert :ok = Nexthop.add(sock, id: 10, group: [{1, 3}, 2])

      assert :ok =
               Nexthop.add(sock,
                 id: 11,
                 group: [1, 2],
                 type: :resilient,
                 buckets: 16,
                 idle_timer: 7
               )

      assert {:error, %Error{errno: :eexist, operation: :add_nexthop, object: 1}} =
               Nexthop.add(sock, id: 1, gateway: "10.0.0.2", dev: "v0")

      assert {:ok, %Nexthop{id: 1, gateway: ~IP"10.0.0.2", oif: ^v0, family: 2, scope: 253}} =
               Nexthop.get(sock, 1)

      assert {:ok, %Nexthop{family: 10, gateway: ~IP"fe80::3", oif: ^v0}} = Nexthop.get(sock, 3)
      assert {:ok, %Nexthop{group: [{1, 3}, {2, 1}]} = g} = Nexthop.get(sock, 10)
      assert Nexthop.group_type_name(g) == :mpath

      assert {:ok, %Nexthop{group_type: 1, res_group: %ResGroup{buckets: 16, idle_timer: 700}}} =
               Nexthop.get(sock, 11)

      assert {:ok, %Nexthop{blackhole: true}} = Nexthop.get(sock, 4)
      assert {:ok, %Nexthop{protocol: 4}} = Nexthop.get(sock, 2)

      {:ok, all} = Nexthop.list(sock)
      assert Enum.map(all, & &1.id) == [1, 2, 3, 4, 5, 10, 11]
      assert Enum.map(ip_nh(ns), & &1["id"]) == [1, 2, 3, 4, 5, 10, 11]

      assert :ok = Nexthop.replace(sock, id: 1, gateway: "10.0.0.9", dev: "v0")
      assert [%{"gateway" => "10.0.0.9"}] = ip_nh(ns, ~w(id 1))
      assert :ok = Nexthop.replace(sock, id: 10, group: [1, {2, 7}])
      assert [%{"group" => [%{"id" => 1}, %{"id" => 2, "weight" => 7}]}] = ip_nh(ns, ~w(id 10))

      assert :ok = Nexthop.delete(sock, 4)

      assert {:error, %Error{errno: :enoent, operation: :get_nexthop, object: 4}} =
               Nexthop.get(sock, 4)

      assert {:error, %Error{errno: :enoent, operation: :delete_nexthop, object: 4}} =
               Nexthop.delete(sock, 4)

      # the kernel refuses a group member that does not exist, and says why
      assert {:error, %Error{errno: :einval, message: msg}} =
               Nexthop.add(sock, id: 12, group: [1, 99])

      assert msg == "Invalid nexthop id"
    end

    test "list filters: dev, groups, fdb, family, master", %{sock: sock} do
      :ok = Nexthop.add(sock, id: 1, gateway: "10.0.0.2", dev: "v0")
      :ok = Nexthop.add(sock, id: 2, gateway: "2001:db8::2", dev: "v0")
      :ok = Nexthop.add(sock, id: 3, blackhole: true)
      :ok = Nexthop.add(sock, id: 4, group: [1])
      :ok = Nexthop.add(sock, id: 5, gateway: "10.0.0.50", fdb: true)
      :ok = Nexthop.add(sock, id: 6, group: [5], fdb: true)
      :ok = Nexthop.add(sock, id: 7, dev: "v1")

      ids = fn opts -> sock |> Nexthop.list(opts) |> elem(1) |> Enum.map(& &1.id) end
      assert ids.(dev: "v0") == [1, 2]
      assert ids.(groups: true) == [4, 6]
      assert ids.(fdb: true) == [5, 6]
      assert ids.(family: :inet6) == [2]
      assert ids.(family: :inet) == [1, 3, 5, 7]
      assert ids.(master: "br0") == [7]
      assert {:error, %Error{errno: :enodev}} = Nexthop.list(sock, dev: "nope0")
    end

    test "routes through nexthop objects (nhid), checked with ip -j route", %{ns: ns, sock: sock} do
      :ok = Nexthop.add(sock, id: 1, gateway: "10.0.0.2", dev: "v0")
      :ok = Nexthop.add(sock, id: 2, gateway: "10.0.0.3", dev: "v0")
      :ok = Nexthop.add(sock, id: 10, group: [{1, 2}, 2])
      :ok = Nexthop.add(sock, id: 20, gateway: "2001:db8::2", dev: "v0")

      assert :ok = Route.add(sock, "10.9.0.0", 16, nil, nhid: 10)
      assert :ok = Route.add(sock, "10.10.0.0", 16, nil, nhid: 1, table: 100)
      assert :ok = Route.add(sock, "2001:db8:9::", 48, nil, nhid: 20)

      assert [%{"nhid" => 10, "nexthops" => hops}] =
               Sandbox.ip_json!(ns.name, ~w(route show 10.9.0.0/16))

      assert Enum.map(hops, &{&1["gateway"], &1["weight"]}) == [{"10.0.0.2", 2}, {"10.0.0.3", 1}]

      assert [%{"nhid" => 1, "gateway" => "10.0.0.2", "dev" => "v0"}] =
               Sandbox.ip_json!(ns.name, ~w(route show table 100))

      assert [%{"nhid" => 20}] = Sandbox.ip_json!(ns.name, ~w(-6 route show 2001:db8:9::/48))

      {:ok, routes} = Route.list(sock)
      r = Enum.find(routes, &(&1.dst == ~IP"10.9.0.0"))
      # the kernel expands the group for old readers (nexthop_compat_mode)
      assert %Route{nh_id: 10, multipath: [%{gateway: ~IP"10.0.0.2", weight: 2}, _]} = r
      assert {:ok, [%Route{nh_id: 1, gateway: ~IP"10.0.0.2"}]} = Route.list(sock, table: 100)
      # `ip route get ... fibmatch`: the FIB entry that matched, not the resolved route
      assert {:ok, %Route{dst: ~IP"10.9.0.0", dst_len: 16, nh_id: 10}} =
               Route.get(sock, "10.9.1.1", fib_match: true)

      # deleting the nexthop takes its routes with it
      assert :ok = Nexthop.delete(sock, 1)
      assert [] = Sandbox.ip_json!(ns.name, ~w(route show table 100))
      assert :ok = Route.delete(sock, r)
      assert [] = Sandbox.ip_json!(ns.name, ~w(route show 10.9.0.0/16))
    end
  end
end
