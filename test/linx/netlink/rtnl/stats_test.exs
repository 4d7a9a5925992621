defmodule Linx.Netlink.Rtnl.StatsTest do
  # Not async: the live tests run `ip` and open sockets (see AddressTest).
  use ExUnit.Case, async: false

  import Bitwise

  alias Linx.Netlink.{Error, Message, Rtnl, Socket}
  alias Linx.Netlink.Rtnl.Stats

  alias Linx.Netlink.Rtnl.Stats.{
    AfSpec,
    BridgeMcast,
    BridgeStp,
    BridgeVlan,
    BridgeXStats,
    HwStats64,
    Link64,
    MplsLinkStats,
    OffloadXStats,
    XStats
  }

  alias Linx.Test.Sandbox

  doctest Stats

  @nested 0x8000

  defp nla(type, value) do
    len = 4 + byte_size(value)
    pad = rem(4 - rem(len, 4), 4)
    <<len::native-16, type::native-16, value::binary, 0::size(pad * 8)>>
  end

  defp u64s(list), do: for(v <- list, into: <<>>, do: <<v::native-64>>)

  describe "encoding (golden bytes from /usr/include/linux/if_link.h)" do
    test "the request: struct if_stats_msg with the filter mask" do
      # family 0, 3 pad bytes, ifindex, filter_mask = IFLA_STATS_FILTER_BIT(LINK_64)
      assert Stats.encode(%Stats{ifindex: 5, filter_mask: Stats.filter_mask([:link_64])}) ==
               <<0, 0, 0, 0, 5::native-32, 1::native-32>>
    end

    test "filter masks: one bit per IFLA_STATS_* attribute, 1 << (attr - 1)" do
      assert Stats.filter_mask([:xstats]) == 0x2
      assert Stats.filter_mask([:xstats_slave]) == 0x4
      assert Stats.filter_mask([:offload_xstats]) == 0x8
      assert Stats.filter_mask([:af_spec]) == 0x10
      assert Stats.filter_mask([:link_64, :af_spec]) == 0x11
    end
  end

  describe "decoding" do
    test "IFLA_STATS_LINK_64 of 24 and 25 counters; extra trailing bytes ignored" do
      old = Stats.decode(<<0::32, 3::native-32, 1::native-32>> <> nla(1, u64s(1..24)))

      assert %Link64{rx_packets: 1, tx_packets: 2, rx_nohandler: 24, rx_otherhost_dropped: nil} =
               old.link

      new = Stats.decode(<<0::32, 3::native-32, 1::native-32>> <> nla(1, u64s(1..26)))
      assert %Link64{rx_otherhost_dropped: 25} = new.link
    end

    test "every group, as a kernel would nest it" do
      vlan = fn vid ->
        u64s([100 + vid, 10 + vid, 200 + vid, 20 + vid]) <>
          <<vid::native-16, 0x1::native-16, 0::32>>
      end

      mcast = u64s(1..30)
      stp = u64s([1, 2, 3, 4, 5, 6])

      bridge_master =
        nla(
          @nested ||| 1,
          nla(1, vlan.(10)) <> nla(1, vlan.(20)) <> nla(3, <<0::32>>) <> nla(2, mcast)
        )

      bridge_port = nla(@nested ||| 1, nla(3, <<0::32>>) <> nla(2, mcast) <> nla(4, stp))
      bond = nla(@nested ||| 2, nla(1, <<1, 2, 3, 4>>))

      offload =
        nla(1, u64s(1..25)) <>
          nla(@nested ||| 2, nla(@nested ||| 3, nla(1, <<1>>) <> nla(2, <<0>>))) <>
          nla(3, u64s(11..19))

      af = nla(@nested ||| 28, nla(@nested ||| 1, u64s(21..29)))

      payload =
        <<0, 0, 0, 0, 7::native-32, 31::native-32>> <>
          nla(1, u64s(1..25)) <>
          nla(@nested ||| 2, bridge_master) <>
          nla(@nested ||| 3, bridge_port <> bond) <>
          nla(@nested ||| 4, offload) <>
          nla(@nested ||| 5, af)

      s = Stats.decode_message(%Message{type: 92, payload: payload})
      assert %Stats{ifindex: 7, filter_mask: 31, link: %Link64{rx_packets: 1}} = s

      assert %XStats{bridge: %BridgeXStats{vlans: [v10, v20], mcast: m, stp: nil}, bond: nil} =
               s.xstats

      assert %BridgeVlan{
               vid: 10,
               flags: 1,
               rx_bytes: 110,
               rx_packets: 20,
               tx_bytes: 210,
               tx_packets: 30
             } = v10

      assert %BridgeVlan{vid: 20} = v20

      assert %BridgeMcast{
               igmp_v1queries_rx: 1,
               igmp_v1queries_tx: 2,
               igmp_parse_errors: 15,
               mld_v1queries_rx: 16,
               mld_parse_errors: 26,
               mcast_bytes_rx: 27,
               mcast_packets_tx: 30
             } = m

      assert %XStats{bridge: %BridgeXStats{vlans: [], mcast: %BridgeMcast{}, stp: stp_s}} =
               s.xstats_slave

      assert %BridgeStp{
               transition_blk: 1,
               transition_fwd: 2,
               rx_bpdu: 3,
               tx_bpdu: 4,
               rx_tcn: 5,
               tx_tcn: 6
             } =
               stp_s

      assert s.xstats_slave.bond == nla(1, <<1, 2, 3, 4>>)

      assert %OffloadXStats{
               cpu_hit: %Link64{rx_packets: 1, rx_otherhost_dropped: 25},
               hw_s_info: %{l3_stats: %{request: true, used: false}},
               l3_stats: %HwStats64{rx_packets: 11, multicast: 19}
             } = s.offload_xstats

      assert %AfSpec{mpls: %MplsLinkStats{rx_packets: 21, rx_noroute: 29}} = s.af_spec

      # and back: encode/decode is the identity on what was decoded
      assert Stats.decode(Stats.encode(s)) == s
    end

    test "other message types are not stats; decoding never raises" do
      assert Stats.decode_message(%Message{type: 94, payload: <<0::96>>}) == nil
      assert Stats.decode_message(%Message{type: 16, payload: <<0::96>>}) == nil
      assert %Stats{family: nil} = Stats.decode(<<0, 0>>)

      for _ <- 1..500 do
        bin = :crypto.strong_rand_bytes(:rand.uniform(120))
        assert %Stats{} = Stats.decode(bin)
        assert %XStats{} = XStats.decode(bin)
        assert %OffloadXStats{} = OffloadXStats.decode(bin)
        assert %AfSpec{} = AfSpec.decode(bin)
        assert %BridgeXStats{} = BridgeXStats.decode(bin)
      end

      # short structs
      assert BridgeVlan.decode(<<1, 2, 3>>) == nil
      assert %BridgeStp{transition_blk: 1, rx_bpdu: nil} = BridgeStp.decode(u64s([1, 2]))
    end
  end

  describe "Inspect (0.2's form)" do
    test "ifindex with rx/tx packets and bytes; ifindex alone without link counters" do
      s = %Stats{
        ifindex: 2,
        link: %Link64{rx_packets: 3, rx_bytes: 300, tx_packets: 4, tx_bytes: 400}
      }

      assert inspect(s) == "#Linx.Netlink.Rtnl.Stats<ifindex=2 rx=3p/300B tx=4p/400B>"
      assert inspect(%Stats{ifindex: 9}) == "#Linx.Netlink.Rtnl.Stats<ifindex=9>"
    end
  end

  describe "programmer errors raise ArgumentError naming the value" do
    test "groups and options" do
      assert_raise ArgumentError, ~r/:link64/, fn -> Stats.filter_mask([:link64]) end
      assert_raise ArgumentError, ~r/\[\]/, fn -> Stats.filter_mask([]) end
      assert_raise ArgumentError, ~r/"all"/, fn -> Stats.filter_mask("all") end
    end
  end

  describe "live, in a private netns" do
    @describetag :root
    @describetag :iproute2

    setup do
      ns = Sandbox.netns!(tag: "stats")
      Sandbox.ip!(ns.name, ~w(link add s0 type veth peer name s1))
      Sandbox.ip!(ns.name, ~w(link add sbr type bridge))
      Sandbox.ip!(ns.name, ~w(link set s1 master sbr))
      for dev <- ~w(s0 s1 sbr), do: Sandbox.ip!(ns.name, ~w(link set #{dev} up))
      Sandbox.ip!(ns.name, ~w(addr add 10.60.0.1/24 dev s0))
      {:ok, sock} = Rtnl.open({:path, ns.path})
      on_exit(fn -> Socket.close(sock) end)
      %{ns: ns, sock: sock}
    end

    test "get by name and by ifindex; traffic moves the counters", %{ns: ns, sock: sock} do
      assert {:ok, %Stats{ifindex: 1, link: %Link64{} = before}} = Stats.get(sock, "lo")
      Sandbox.cmd!("ip", ~w(netns exec #{ns.name} ping -c 3 -i 0.2 127.0.0.1))
      assert {:ok, %Stats{link: %Link64{} = later}} = Stats.get(sock, 1)
      assert later.tx_packets >= before.tx_packets + 6
      assert later.rx_bytes > before.rx_bytes

      assert inspect(elem(Stats.get(sock, "lo"), 1)) =~
               ~r/^#Linx.Netlink.Rtnl.Stats<ifindex=1 rx=\d+p\/\d+B tx=\d+p\/\d+B>$/
    end

    test "list has one entry per link", %{ns: ns, sock: sock} do
      assert {:ok, stats} = Stats.list(sock)
      ip = for l <- Sandbox.ip_json!(ns.name, ~w(link show)), do: l["ifindex"]
      assert Enum.sort(Enum.map(stats, & &1.ifindex)) == Enum.sort(ip)
      assert Enum.all?(stats, &match?(%Link64{}, &1.link))
      assert Enum.all?(stats, &(&1.xstats == nil and &1.offload_xstats == nil))
    end

    test "groups: bridge multicast, port STP, offload info; only the groups asked for", %{
      sock: sock
    } do
      assert {:ok, br} = Stats.get(sock, "sbr", groups: :all)
      assert %Link64{} = br.link
      assert %XStats{bridge: %BridgeXStats{mcast: %BridgeMcast{}}} = br.xstats

      assert %OffloadXStats{hw_s_info: %{l3_stats: %{request: false, used: false}}} =
               br.offload_xstats

      assert {:ok, port} = Stats.get(sock, "s1", groups: [:xstats_slave])
      assert port.link == nil

      assert %XStats{bridge: %BridgeXStats{stp: %BridgeStp{}, mcast: %BridgeMcast{}}} =
               port.xstats_slave

      assert {:ok, all} = Stats.list(sock, groups: [:link_64, :xstats_slave])
      s1 = Enum.find(all, &(&1.ifindex == port.ifindex))
      assert %Link64{} = s1.link
      assert %XStats{bridge: %BridgeXStats{stp: %BridgeStp{}}} = s1.xstats_slave
    end

    test "a missing link is ENODEV naming it", %{sock: sock} do
      assert {:error,
              %Error{errno: :enodev, operation: :get_stats, object: "nope0", message: msg}} =
               Stats.get(sock, "nope0")

      assert msg == ~s(no such interface "nope0")

      assert {:error, %Error{errno: :enodev, operation: :get_stats, object: 4242, message: msg}} =
               Stats.get(sock, 4242)

      assert msg == "no such interface 4242"
    end

    test "bad arguments raise before any request", %{sock: sock} do
      assert_raise ArgumentError, ~r/"0123456789abcdef"/, fn ->
        Stats.get(sock, "0123456789abcdef")
      end

      assert_raise ArgumentError, ~r/got: 0/, fn -> Stats.get(sock, 0) end

      assert_raise ArgumentError, ~r/:everything/, fn ->
        Stats.get(sock, "lo", groups: [:everything])
      end

      assert_raise ArgumentError, ~r/:group/, fn -> Stats.list(sock, group: :all) end
    end
  end
end
