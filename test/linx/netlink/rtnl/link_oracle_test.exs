defmodule Linx.Netlink.Rtnl.LinkOracleTest do
  # `ip -j -d -s -s link show` is the oracle: every key it prints for every link of a
  # private netns must be matched by what `Link.list/1` decoded. A key the comparison does
  # not know fails the test, unless it is in an allowlist below with the reason Linx does
  # not carry it. This is what shows that every attribute `ip` reports is decoded.
  #
  # The JSON key names and formats come from iproute2's ip/ipaddress.c (print_linkinfo,
  # print_link_flags, print_stats64), lib/utils.c (print_name_and_link) and the
  # ip/iplink_{bridge,bridge_slave,vxlan,macvlan}.c and ip/iptuntap.c print_opt functions.
  #
  # Not async: building the netns runs `ip` and opens sockets and files, and that fd
  # churn trips the process-wide "no fd leaked" check of Linx.Netlink.SocketTest (an async
  # test) whenever the two overlap. Run on its own, this module takes under a second.
  use ExUnit.Case, async: false

  @moduletag :root
  @moduletag :iproute2

  import Bitwise

  alias Linx.Netlink.{Rtnl, Socket}
  alias Linx.Netlink.Rtnl.{Link, LinkInfo}
  alias Linx.Netlink.Rtnl.LinkInfo.{Bridge, BridgePort, Macvlan, Tun, Vxlan}
  alias Linx.Test.Sandbox

  @bridge_mac "02:00:00:00:b0:01"

  # Keys `ip` prints that come from attributes outside what Link decodes: none.
  @top_allow %{}

  @linkinfo_allow %{
    "info_xstats" => "IFLA_INFO_XSTATS, kind statistics LinkInfo does not decode"
  }

  setup_all do
    ns = Sandbox.netns!(tag: "oracle")

    batch = """
    link add v0 type veth peer name v1
    link property add dev v0 altname linx-oracle-veth0
    link set v0 alias "oracle test alias"
    addr add 10.77.0.1/24 dev v0
    link add br0 address #{@bridge_mac} type bridge priority 4096 group_fwd_mask 0x4000 mcast_querier 1
    link set v1 master br0
    link set v1 type bridge_slave cost 7 priority 16 hairpin on group_fwd_mask 0x4004 mcast_flood off
    link set v0 up
    link set v1 up
    link set br0 up
    neigh add 10.77.0.2 lladdr #{@bridge_mac} dev v0 nud permanent
    link add v2 type veth peer name v3
    link set v2 up
    link set v2 addrgenmode none
    link set v3 addrgenmode random
    link add mv0 link v0 type macvlan mode bridge
    link add mv1 link v0 type macvlan mode private
    link add mv2 link v0 type macvlan mode vepa
    link add mvs link v0 type macvlan mode source macaddr add 02:00:00:00:00:01
    link set mvs type macvlan macaddr add 02:00:00:00:00:02
    link add mvp link v3 type macvlan mode passthru nopromisc
    link add vx0 type vxlan id 42 dstport 4789 local 10.77.0.1 ttl 64 nolearning
    link add vx1 type vxlan id 43 group 239.1.1.1 dev v0 dstport 4790 srcport 1000 2000 tos 0x10 proxy rsc l2miss l3miss gbp maxaddress 100 df set
    link add vx2 type vxlan id 44 remote 2001:db8::1 local 2001:db8::2 dstport 4791 flowlabel 0x12345 remcsumtx remcsumrx udp6zerocsumtx udp6zerocsumrx noudpcsum df inherit ttl inherit
    link add vx3 type vxlan external vnifilter gpe dstport 4792
    tuntap add tun0 mode tun
    addr add 10.78.0.1 peer 10.78.0.2 dev tun0
    link set tun0 up
    tuntap add tap0 mode tap
    tuntap add tap1 mode tap user 4242 group 4343 multi_queue vnet_hdr pi
    """

    path = Path.join(System.tmp_dir!(), "#{ns.name}.batch")
    File.write!(path, batch)
    on_exit(fn -> File.rm(path) end)
    Sandbox.ip!(ns.name, ["-batch", path])

    # Traffic: UDP from v0 to the bridge's MAC (a permanent neighbour, so no ARP), which
    # counts on v0 (tx), v1 (rx) and br0 (rx); over lo; and to tun0's peer, which tun0
    # drops (no process has it open), so a counter other than packets and bytes moves.
    {:ok, udp} = :gen_udp.open(0, [:binary, {:netns, String.to_charlist(ns.path)}])

    for _ <- 1..5 do
      :ok = :gen_udp.send(udp, {10, 77, 0, 2}, 9, "linx oracle")
      :ok = :gen_udp.send(udp, {127, 0, 0, 1}, 9, "linx oracle")
      _ = :gen_udp.send(udp, {10, 78, 0, 2}, 9, "linx oracle")
    end

    :gen_udp.close(udp)
    %{ns: ns}
  end

  setup %{ns: ns} do
    {:ok, sock} = Rtnl.open({:path, ns.path})
    on_exit(fn -> Socket.close(sock) end)
    %{sock: sock}
  end

  test "every key ip prints for every link matches Link.list/1", %{ns: ns, sock: sock} do
    {ip_links, links} = stable_snapshot(ns, sock)

    assert Enum.map(ip_links, & &1["ifindex"]) |> Enum.sort() ==
             Enum.map(links, & &1.index) |> Enum.sort()

    ctx = Map.new(links, &{&1.index, &1})

    errors =
      Enum.flat_map(ip_links, fn ip ->
        link = Map.fetch!(ctx, ip["ifindex"])
        compare(ip["ifname"], ip, &top(&1, &2, link, ctx), @top_allow)
      end)

    assert errors == [], "ip and Linx disagree:\n  " <> Enum.join(errors, "\n  ")

    # The setup really built what the comparison walked through.
    names = Map.new(links, &{&1.name, &1})

    assert Enum.sort(Map.keys(names)) ==
             ~w(br0 lo mv0 mv1 mv2 mvp mvs tap0 tap1 tun0 v0 v1 v2 v3 vx0 vx1 vx2 vx3)

    for {name, kind} <- [
          {"br0", "bridge"},
          {"mv0", "macvlan"},
          {"vx0", "vxlan"},
          {"tun0", "tun"},
          {"v0", "veth"}
        ],
        do: assert(Link.kind(names[name]) == kind)

    assert %BridgePort{} = names["v1"].linkinfo.slave_data
    assert BridgePort.state_name(names["v1"].linkinfo.slave_data) == :forwarding
  end

  test "a tun device has no link-layer address and decodes", %{sock: sock} do
    {:ok, links} = Link.list(sock)
    tun = Enum.find(links, &(&1.name == "tun0"))

    assert tun.address == nil
    assert tun.broadcast == nil
    # ARPHRD_NONE
    assert tun.type == 65534
    assert :pointopoint in Link.flag_names(tun)
    assert %LinkInfo{kind: "tun", info_data: %Tun{type: 1, pi: 0, persist: 1}} = tun.linkinfo
    assert Tun.type_name(tun.linkinfo.info_data) == :tun

    tap1 = Enum.find(links, &(&1.name == "tap1"))

    assert %Tun{owner: 4242, group: 4343, multi_queue: 1, vnet_hdr: 1, pi: 1} =
             tap1.linkinfo.info_data
  end

  test "veth reports no kind data; the peers point at each other", %{sock: sock} do
    {:ok, links} = Link.list(sock)
    by_name = Map.new(links, &{&1.name, &1})

    for name <- ~w(v0 v1 v2 v3) do
      assert %LinkInfo{kind: "veth", info_data: nil} = by_name[name].linkinfo
    end

    assert by_name["v0"].link == by_name["v1"].index
    assert by_name["v1"].link == by_name["v0"].index
    assert by_name["v0"].alt_names == ["linx-oracle-veth0"]
    assert by_name["v0"].ifalias == "oracle test alias"
  end

  test "the traffic sent in setup is counted", %{sock: sock} do
    {:ok, links} = Link.list(sock)
    by_name = Map.new(links, &{&1.name, &1})

    assert by_name["v0"].stats64.tx_packets >= 5
    assert by_name["v1"].stats64.rx_packets >= 5
    assert by_name["br0"].stats64.rx_packets >= 5
    assert by_name["lo"].stats64.tx_packets >= 5
    assert by_name["lo"].stats64.rx_bytes > 0
    assert by_name["tun0"].stats64.tx_dropped >= 5
  end

  # --- snapshot ---------------------------------------------------------------------------

  # ip, then Linx, then ip again; counters may move (IPv6 autoconfiguration, MLD, the
  # bridge's IGMP/MLD querier) so the pair is taken again until the two ip dumps agree on
  # everything but the running timers. Linx's dump, taken between them, must then agree.
  defp stable_snapshot(ns, sock, attempts \\ 50) do
    ip1 = ip_dump(ns)
    {:ok, links} = Link.list(sock)
    ip2 = ip_dump(ns)

    cond do
      strip_timers(ip1) == strip_timers(ip2) ->
        {ip1, links}

      attempts > 1 ->
        Process.sleep(100)
        stable_snapshot(ns, sock, attempts - 1)

      true ->
        flunk("the links never stayed still long enough to compare")
    end
  end

  defp ip_dump(ns), do: Sandbox.ip_json!(ns.name, ~w(-d -s -s link show))

  @timer_keys ~w(hello_timer tcn_timer topology_change_timer gc_timer hold_timer
                 message_age_timer forward_delay_timer)

  defp strip_timers(map) when is_map(map),
    do: for({k, v} <- map, k not in @timer_keys, into: %{}, do: {k, strip_timers(v)})

  defp strip_timers(list) when is_list(list), do: Enum.map(list, &strip_timers/1)
  defp strip_timers(other), do: other

  # --- the comparison -----------------------------------------------------------------------

  # Walks every key ip printed; `expect.(key, value)` answers what Linx has for it:
  #   {:ok, expected}   ip's value must equal `expected`
  #   {:timer, cs}      ip prints seconds with two decimals, Linx holds centiseconds
  #   {:errors, list}   a nested comparison's own findings
  #   :unmapped         the test does not know the key: a failure, unless allowlisted
  defp compare(path, ip_map, expect, allow) do
    Enum.flat_map(Enum.sort(ip_map), fn {key, value} ->
      where = "#{path}.#{key}"

      case expect.(key, value) do
        {:ok, ^value} ->
          []

        {:ok, expected} ->
          ["#{where}: ip #{inspect(value)}, Linx #{inspect(expected)}"]

        {:timer, cs} when is_integer(cs) and is_number(value) ->
          # The timers run between the two reads: allow a second of drift.
          if abs(round(value * 100) - cs) <= 100,
            do: [],
            else: ["#{where}: ip #{value} s, Linx #{cs} cs"]

        {:timer, other} ->
          ["#{where}: ip #{inspect(value)}, Linx #{inspect(other)} (not a timer value)"]

        {:errors, errors} ->
          errors

        :unmapped ->
          if Map.has_key?(allow, key),
            do: [],
            else: ["#{where}: ip prints #{inspect(value)} but the test maps no Linx field"]
      end
    end)
  end

  # Top-level keys of one link (ip/ipaddress.c print_linkinfo).
  @direct ~w(mtu qdisc txqlen promiscuity allmulti min_mtu max_mtu num_tx_queues
             num_rx_queues gso_max_size gso_max_segs tso_max_size tso_max_segs gro_max_size
             gso_ipv4_max_size gro_ipv4_max_size ifalias phys_port_name link_netnsid)

  defp top(key, _v, l, _ctx) when key in @direct,
    do: {:ok, Map.fetch!(l, String.to_existing_atom(key))}

  defp top("ifindex", _, l, _), do: {:ok, l.index}
  defp top("ifname", _, l, _), do: {:ok, l.name}
  # IFLA_LINK: the peer or lower device by name (null for ifindex 0)
  defp top("link", _, l, ctx), do: {:ok, if(l.link == 0, do: nil, else: name_of(ctx, l.link))}
  # IFLA_LINK when IFLA_LINK_NETNSID is present (the peer lives in another netns)
  defp top("link_index", _, l, _), do: {:ok, l.link}
  defp top("master", _, l, ctx), do: {:ok, name_of(ctx, l.master)}
  defp top("flags", _, l, ctx), do: {:ok, ip_flags(l, ctx)}

  defp top("operstate", _, l, _),
    do: {:ok, l |> Link.operstate() |> Atom.to_string() |> String.upcase()}

  defp top("operstate_index", _, l, _), do: {:ok, l.operstate}
  defp top("linkmode", _, l, _), do: {:ok, Enum.at(["DEFAULT", "DORMANT"], l.linkmode)}
  defp top("linkmode_index", _, l, _), do: {:ok, l.linkmode}
  # rtnl_group_n2a: 0 is "default" in /etc/iproute2/group; this test makes no other group
  defp top("group", _, l, _),
    do: {:ok, if(l.group == 0, do: "default", else: Integer.to_string(l.group))}

  defp top("link_type", _, l, _), do: {:ok, arphrd_name(l.type)}
  defp top("address", _, l, _), do: {:ok, ll_addr(l.address)}
  defp top("broadcast", _, l, _), do: {:ok, ll_addr(l.broadcast)}
  # printed only when it differs from the current address
  defp top("permaddr", _, l, _), do: {:ok, ll_addr(l.perm_address)}

  defp top("link_pointtopoint", _, l, _),
    do: {:ok, :pointopoint in Link.flag_names(l) and l.broadcast != nil}

  defp top("proto_down", _, l, _), do: {:ok, l.proto_down == 1}
  defp top("parentbus", _, l, _), do: {:ok, l.parent_dev_bus_name}
  defp top("parentdev", _, l, _), do: {:ok, l.parent_dev_name}
  defp top("phys_port_id", _, l, _), do: {:ok, hex_bytes(l.phys_port_id)}
  defp top("phys_switch_id", _, l, _), do: {:ok, hex_bytes(l.phys_switch_id)}
  defp top("altnames", _, l, _), do: {:ok, l.alt_names}

  # IFLA_AF_SPEC / AF_INET6 / IFLA_INET6_ADDR_GEN_MODE (ip/ipaddress.c print_af_spec):
  # names for the four known modes, "%#.2hhx" for others
  defp top("inet6_addr_gen_mode", _, l, _) do
    case Link.addr_gen_mode(l) do
      :stable_privacy -> {:ok, "stable_secret"}
      {:unknown, n} -> {:ok, "0x" <> String.pad_leading(Integer.to_string(n, 16), 2, "0")}
      mode -> {:ok, mode && Atom.to_string(mode)}
    end
  end

  # "stats" when the kernel's IFLA_STATS64 is not the size ip knows
  defp top(key, ip, l, _) when key in ["stats64", "stats"],
    do: {:errors, compare("#{l.name}.#{key}", ip, &stats(&1, &2, l), %{})}

  defp top("linkinfo", ip, l, ctx),
    do: {:errors, compare("#{l.name}.linkinfo", ip, &linkinfo(&1, &2, l, ctx), @linkinfo_allow)}

  defp top(_key, _v, _l, _ctx), do: :unmapped

  # ip/ipaddress.c print_stats64 (JSON, -s -s)
  @rx %{
    "bytes" => :rx_bytes,
    "packets" => :rx_packets,
    "errors" => :rx_errors,
    "dropped" => :rx_dropped,
    "over_errors" => :rx_over_errors,
    "multicast" => :multicast,
    "compressed" => :rx_compressed,
    "length_errors" => :rx_length_errors,
    "crc_errors" => :rx_crc_errors,
    "frame_errors" => :rx_frame_errors,
    "fifo_errors" => :rx_fifo_errors,
    "missed_errors" => :rx_missed_errors,
    "nohandler" => :rx_nohandler,
    "otherhost" => :rx_otherhost_dropped
  }

  @tx %{
    "bytes" => :tx_bytes,
    "packets" => :tx_packets,
    "errors" => :tx_errors,
    "dropped" => :tx_dropped,
    "carrier_errors" => :tx_carrier_errors,
    "collisions" => :collisions,
    "compressed" => :tx_compressed,
    "aborted_errors" => :tx_aborted_errors,
    "fifo_errors" => :tx_fifo_errors,
    "window_errors" => :tx_window_errors,
    "heartbeat_errors" => :tx_heartbeat_errors
  }

  defp stats(dir, ip, l) when dir in ["rx", "tx"] do
    table = if dir == "rx", do: @rx, else: @tx

    {:errors,
     compare(
       "#{l.name}.stats64.#{dir}",
       ip,
       fn
         # IFLA_CARRIER_CHANGES, printed among the tx counters
         "carrier_changes", _ -> {:ok, l.carrier_changes}
         key, _ -> if f = table[key], do: {:ok, Map.fetch!(l.stats64, f)}, else: :unmapped
       end,
       %{}
     )}
  end

  defp stats(_key, _ip, _l), do: :unmapped

  # ip/ipaddress.c print_linktype
  defp linkinfo("info_kind", _, l, _), do: {:ok, l.linkinfo.kind}
  defp linkinfo("info_slave_kind", _, l, _), do: {:ok, l.linkinfo.slave_kind}

  defp linkinfo("info_data", ip, l, ctx) do
    data = l.linkinfo.info_data
    path = "#{l.name}.info_data"

    case {l.linkinfo.kind, data} do
      {"bridge", %Bridge{}} -> {:errors, compare(path, ip, &bridge(&1, &2, data), %{})}
      {"vxlan", %Vxlan{}} -> {:errors, compare(path, ip, &vxlan(&1, &2, data, ctx), %{})}
      {"macvlan", %Macvlan{}} -> {:errors, compare(path, ip, &macvlan(&1, &2, data), %{})}
      {"tun", %Tun{}} -> {:errors, compare(path, ip, &tun(&1, &2, data), %{})}
      {kind, other} -> {:errors, ["#{path}: kind #{kind} decoded as #{inspect(other)}"]}
    end
  end

  defp linkinfo("info_slave_data", ip, l, ctx) do
    case {l.linkinfo.slave_kind, l.linkinfo.slave_data} do
      {"bridge", %BridgePort{} = data} ->
        {:errors, compare("#{l.name}.info_slave_data", ip, &port(&1, &2, data, ctx), %{})}

      {kind, other} ->
        {:errors, ["#{l.name}.info_slave_data: #{kind} decoded as #{inspect(other)}"]}
    end
  end

  defp linkinfo(_key, _ip, _l, _ctx), do: :unmapped

  # --- per kind: ip/iplink_bridge.c bridge_print_opt ---------------------------------------

  @bridge_direct ~w(forward_delay hello_time max_age ageing_time stp_state priority
                    vlan_filtering root_port root_path_cost topology_change
                    topology_change_detected vlan_default_pvid vlan_stats_enabled
                    vlan_stats_per_port mcast_snooping mcast_router mcast_query_use_ifaddr
                    mcast_querier mcast_hash_elasticity mcast_hash_max mcast_last_member_cnt
                    mcast_startup_query_cnt mcast_last_member_intvl mcast_membership_intvl
                    mcast_querier_intvl mcast_query_intvl mcast_query_response_intvl
                    mcast_startup_query_intvl mcast_stats_enabled mcast_igmp_version
                    mcast_mld_version nf_call_iptables nf_call_ip6tables nf_call_arptables
                    fdb_n_learned fdb_max_learned)

  # multi_boolopt bits, printed as 0/1 when the kernel's mask has them
  @boolopt_keys %{
    "no_linklocal_learn" => :no_ll_learn,
    "mcast_vlan_snooping" => :mcast_vlan_snooping,
    "mst_enabled" => :mst_enable,
    "mdb_offload_fail_notification" => :mdb_offload_fail_notification,
    "fdb_local_vlan_0" => :fdb_local_vlan_0
  }

  @bridge_timers ~w(hello_timer tcn_timer topology_change_timer gc_timer)

  defp bridge(key, _, d) when key in @bridge_direct,
    do: {:ok, Map.fetch!(d, String.to_existing_atom(key))}

  defp bridge(key, _, d) when key in @bridge_timers,
    do: {:timer, Map.fetch!(d, String.to_existing_atom(key))}

  defp bridge(key, _, d) when is_map_key(@boolopt_keys, key) do
    case Map.fetch(Bridge.boolopts(d), @boolopt_keys[key]) do
      {:ok, on?} -> {:ok, if(on?, do: 1, else: 0)}
      :error -> {:ok, :not_reported}
    end
  end

  defp bridge("bridge_id", _, d), do: {:ok, ip_bridge_id(d.bridge_id)}
  # iproute2 6.1 formats IFLA_BR_BRIDGE_ID's bytes under "root_id"; the two are equal
  # while the bridge is its own root (STP off, as here), so the root id is compared.
  defp bridge("root_id", _, d), do: {:ok, ip_bridge_id(d.root_id)}
  defp bridge("group_fwd_mask", _, d), do: {:ok, ip_hex(d.group_fwd_mask)}
  defp bridge("group_addr", _, d), do: {:ok, ll_addr(d.group_addr)}

  defp bridge("vlan_protocol", _, d),
    do: {:ok, %{0x8100 => "802.1Q", 0x88A8 => "802.1ad"}[d.vlan_protocol]}

  defp bridge(_key, _, _d), do: :unmapped

  # --- ip/iplink_bridge_slave.c bridge_slave_print_opt -------------------------------------

  @port_direct ~w(priority cost designated_port designated_cost topology_change_ack
                  config_pending multicast_router mcast_eht_hosts_limit
                  mcast_eht_hosts_cnt mcast_n_groups mcast_max_groups backup_nhid)

  @port_on_off %{
    "hairpin" => :mode,
    "guard" => :guard,
    "root_block" => :protect,
    "fastleave" => :fast_leave,
    "learning" => :learning,
    "flood" => :unicast_flood,
    "proxy_arp" => :proxyarp,
    "proxy_arp_wifi" => :proxyarp_wifi,
    "mcast_flood" => :mcast_flood,
    "bcast_flood" => :bcast_flood,
    "mcast_to_unicast" => :mcast_to_ucast,
    "neigh_suppress" => :neigh_suppress,
    "vlan_tunnel" => :vlan_tunnel,
    "isolated" => :isolated,
    "locked" => :locked,
    "mab" => :mab,
    "neigh_vlan_suppress" => :neigh_vlan_suppress
  }

  @port_timers ~w(hold_timer message_age_timer forward_delay_timer)

  defp port(key, _, p, _) when key in @port_direct,
    do: {:ok, Map.fetch!(p, String.to_existing_atom(key))}

  defp port(key, _, p, _) when key in @port_timers,
    do: {:timer, Map.fetch!(p, String.to_existing_atom(key))}

  defp port(key, _, p, _) when is_map_key(@port_on_off, key),
    do: {:ok, Map.fetch!(p, @port_on_off[key]) == 1}

  defp port("state", _, p, _), do: {:ok, p |> BridgePort.state_name() |> Atom.to_string()}
  defp port("state_index", _, p, _), do: {:ok, p.state}
  defp port("id", _, p, _), do: {:ok, ip_hex(p.id)}
  defp port("no", _, p, _), do: {:ok, ip_hex(p.no)}
  defp port("bridge_id", _, p, _), do: {:ok, ip_bridge_id(p.bridge_id)}
  defp port("root_id", _, p, _), do: {:ok, ip_bridge_id(p.root_id)}
  defp port("group_fwd_mask", _, p, _), do: {:ok, ip_hex(p.group_fwd_mask)}
  defp port("group_fwd_mask_str", _, p, _), do: {:ok, fwd_mask_str(p.group_fwd_mask)}
  defp port("backup_port", _, p, ctx), do: {:ok, name_of(ctx, p.backup_port)}
  defp port(_key, _, _p, _), do: :unmapped

  # --- ip/iplink_vxlan.c vxlan_print_opt ---------------------------------------------------

  @vxlan_direct ~w(id ttl ageing limit port)
  @vxlan_on ~w(proxy rsc l2miss l3miss remcsum_tx remcsum_rx vnifilter)
  @vxlan_bool ~w(learning udp_csum udp_zero_csum6_tx udp_zero_csum6_rx)

  defp vxlan(key, _, d, _) when key in @vxlan_direct,
    do: {:ok, Map.fetch!(d, String.to_existing_atom(key))}

  # printed only when on
  defp vxlan(key, _, d, _) when key in @vxlan_on,
    do: {:ok, Map.fetch!(d, String.to_existing_atom(key)) == 1}

  defp vxlan(key, _, d, _) when key in @vxlan_bool,
    do: {:ok, Map.fetch!(d, String.to_existing_atom(key)) == 1}

  defp vxlan("external", _, d, _), do: {:ok, d.collect_metadata == 1}
  defp vxlan("gbp", _, d, _), do: {:ok, d.gbp}
  defp vxlan("gpe", _, d, _), do: {:ok, d.gpe}
  # "group" for a multicast address, "remote" for a unicast one
  defp vxlan(key, ip, d, _) when key in ["group", "remote"], do: same_ip(ip, d.group)
  defp vxlan(key, ip, d, _) when key in ["group6", "remote6"], do: same_ip(ip, d.group6)
  defp vxlan("local", ip, d, _), do: same_ip(ip, d.local)
  defp vxlan("local6", ip, d, _), do: same_ip(ip, d.local6)
  defp vxlan("link", _, d, ctx), do: {:ok, name_of(ctx, d.link)}

  defp vxlan("port_range", _, d, _),
    do: {:ok, %{"low" => d.port_range.low, "high" => d.port_range.high}}

  defp vxlan("tos", _, d, _), do: {:ok, ip_hex(d.tos)}
  defp vxlan("label", _, d, _), do: {:ok, ip_hex(d.label)}
  defp vxlan("df", _, d, _), do: {:ok, d |> Vxlan.df_name() |> Atom.to_string()}
  defp vxlan(_key, _, _d, _), do: :unmapped

  # --- ip/iplink_macvlan.c macvlan_print_opt -----------------------------------------------

  defp macvlan("mode", _, d), do: {:ok, d |> Macvlan.mode_name() |> Atom.to_string()}
  defp macvlan("nopromisc", _, d), do: {:ok, :nopromisc in Macvlan.flag_names(d)}
  defp macvlan("nodst", _, d), do: {:ok, :nodst in Macvlan.flag_names(d)}
  defp macvlan("bcqueuelen", _, d), do: {:ok, d.bc_queue_len}
  defp macvlan("usedbcqueuelen", _, d), do: {:ok, d.bc_queue_len_used}
  defp macvlan("bclim", _, d), do: {:ok, d.bc_cutoff}
  defp macvlan("macaddr_count", _, d), do: {:ok, d.macaddr_count}
  defp macvlan("macaddr_data", _, d), do: {:ok, Enum.map(d.macaddr_data, &ll_addr/1)}
  defp macvlan(_key, _, _d), do: :unmapped

  # --- ip/iptuntap.c tun_print_opt ---------------------------------------------------------

  defp tun("type", _, d), do: {:ok, d |> Tun.type_name() |> Atom.to_string()}

  defp tun(key, _, d) when key in ~w(pi vnet_hdr persist multi_queue),
    do: {:ok, Map.fetch!(d, String.to_existing_atom(key)) == 1}

  defp tun("numqueues", _, d), do: {:ok, d.num_queues}
  defp tun("numdisabled", _, d), do: {:ok, d.num_disabled_queues}
  # a name when the id has an /etc/passwd or /etc/group entry, else the number
  defp tun("user", ip, d), do: {:ok, id_or_name(ip, d.owner, "/etc/passwd")}
  defp tun("group", ip, d), do: {:ok, id_or_name(ip, d.group, "/etc/group")}
  defp tun(_key, _, _d), do: :unmapped

  # --- formatting as iproute2 does -----------------------------------------------------------

  # print_link_flags: NO-CARRIER first when up without IFF_RUNNING, RUNNING itself never
  # printed, then a fixed order, then M-DOWN when the IFLA_LINK device is down.
  @ip_flag_order ~w(loopback broadcast pointopoint multicast noarp allmulti promisc master
                    slave debug dynamic automedia portsel notrailers up lower_up dormant
                    echo)a

  defp ip_flags(l, ctx) do
    names = Link.flag_names(l)
    no_carrier = if :up in names and :running not in names, do: ["NO-CARRIER"], else: []
    shown = for f <- @ip_flag_order, f in names, do: f |> Atom.to_string() |> String.upcase()

    parent_down? =
      l.link not in [nil, 0] and l.link_netnsid == nil and
        not (match?(%Link{}, ctx[l.link]) and Link.up?(ctx[l.link]))

    no_carrier ++ shown ++ if(parent_down?, do: ["M-DOWN"], else: [])
  end

  # lib/ll_types.c
  defp arphrd_name(1), do: "ether"
  defp arphrd_name(772), do: "loopback"
  defp arphrd_name(65534), do: "none"
  defp arphrd_name(n), do: "[#{n}]"

  # ll_addr_n2a: zero-padded lowercase hex pairs for a 6-byte address
  defp ll_addr(%Linx.MAC{} = mac), do: Linx.MAC.to_string(mac)
  defp ll_addr(other), do: other

  # br_dump_bridge_id: "%.2x%.2x." of the priority bytes, then ether_ntoa_r, which does
  # not zero-pad the address bytes ("8000.2:0:0:0:b0:1")
  defp ip_bridge_id(%Bridge.Id{priority: prio, address: %Linx.MAC{bytes: mac}}) do
    <<hi, lo>> = <<prio::16>>
    bytes = for <<b <- mac>>, do: Integer.to_string(b, 16) |> String.downcase()
    hex2(hi) <> hex2(lo) <> "." <> Enum.join(bytes, ":")
  end

  defp ip_bridge_id(other), do: other

  defp hex2(b), do: b |> Integer.to_string(16) |> String.downcase() |> String.pad_leading(2, "0")

  # print_0xhex formats "%#llx": no "0x" prefix for zero
  defp ip_hex(0), do: "0"
  defp ip_hex(n) when is_integer(n), do: "0x" <> String.downcase(Integer.to_string(n, 16))
  defp ip_hex(other), do: other

  defp hex_bytes(nil), do: nil
  defp hex_bytes(bin), do: Base.encode16(bin, case: :lower)

  # _bitmask2str with fwd_mask_tbl: stp (bit 0), lacp (bit 2), lldp (bit 14), others as hex
  defp fwd_mask_str(0), do: "0x0"

  defp fwd_mask_str(mask) do
    names = %{0 => "stp", 2 => "lacp", 14 => "lldp"}

    0..15
    |> Enum.filter(&((mask &&& 1 <<< &1) != 0))
    |> Enum.map_join(",", &(names[&1] || "0x" <> Integer.to_string(1 <<< &1, 16)))
    |> String.downcase()
  end

  defp same_ip(text, %Linx.IP{} = ip),
    do: {:ok, if(Linx.IP.parse!(text) == ip, do: text, else: ip)}

  defp same_ip(_text, other), do: {:ok, other}

  defp name_of(_ctx, nil), do: nil
  defp name_of(ctx, index), do: if(l = ctx[index], do: l.name, else: "if#{index}")

  defp id_or_name(ip, id, _file) when is_integer(ip), do: id

  defp id_or_name(_name, id, file) do
    text = Integer.to_string(id)

    file
    |> File.read!()
    |> String.split("\n", trim: true)
    |> Enum.find_value(id, fn line ->
      case String.split(line, ":") do
        [name, _, ^text | _] -> name
        _ -> nil
      end
    end)
  end
end
