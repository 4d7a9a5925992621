defmodule Linx.Netlink.Rtnl.StatsOracleTest do
  # Two oracles, after real traffic (ping between two private netns over a veth pair,
  # and a bridge with STP and a multicast querier):
  #
  #   * `ip -j -s -s link show`: the stats64 counters of every link must equal what
  #     `Stats.get/2` reads for it;
  #   * `ip -j -s -s stats show`: every key of every group (link, offload, xstats,
  #     xstats_slave, afstats) must match what `Stats.list(sock, groups: :all)` decoded.
  #
  # Counters move while the test reads them (IPv6 autoconfiguration, MLD, BPDUs), so each
  # comparison reads ip, then Linx, then ip again, until the two ip reads agree.
  # A key the comparison does not know fails the test.
  #
  # Key names and formats: iproute2 ip/ipaddress.c print_stats64, ip/ipstats.c
  # (print_hw_stats64, the hw_s_info and afstats printers), ip/iplink_bridge.c
  # (bridge_print_stats_mcast, bridge_print_stats_stp), ip/iplink.c
  # print_mpls_link_stats.
  use ExUnit.Case, async: false

  @moduletag :root
  @moduletag :iproute2

  alias Linx.Netlink.{Rtnl, Socket}
  alias Linx.Netlink.Rtnl.{Link, Stats}
  alias Linx.Netlink.Rtnl.Stats.Link64
  alias Linx.Test.Sandbox

  setup_all do
    n1 = Sandbox.netns!(tag: "sto1")
    n2 = Sandbox.netns!(tag: "sto2")
    Sandbox.ip!(n1.name, ~w(link add t1 type veth peer name t2 netns #{n2.name}))

    for {ns, dev, n} <- [{n1, "t1", 1}, {n2, "t2", 2}] do
      Sandbox.ip!(ns.name, ~w(addr add 10.61.0.#{n}/24 dev #{dev}))
      Sandbox.ip!(ns.name, ~w(addr add fd00:61::#{n}/64 dev #{dev} nodad))
      Sandbox.ip!(ns.name, ~w(link set #{dev} up))
    end

    batch = """
    link add tbr type bridge stp_state 1 mcast_querier 1 mcast_snooping 1
    link add tb0 type veth peer name tb1
    link set tb0 master tbr
    link set tbr up
    link set tb0 up
    link set tb1 up
    """

    path = Path.join(System.tmp_dir!(), "#{n1.name}.batch")
    File.write!(path, batch)
    on_exit(fn -> File.rm(path) end)
    Sandbox.ip!(n1.name, ["-batch", path])

    for dst <- ["10.61.0.2", "fd00:61::2"],
        do: Sandbox.cmd!("ip", ~w(netns exec #{n1.name} ping -c 5 -i 0.2 -W 2 #{dst}))

    %{ns: n1}
  end

  setup %{ns: ns} do
    {:ok, sock} = Rtnl.open({:path, ns.path})
    on_exit(fn -> Socket.close(sock) end)
    %{sock: sock}
  end

  test "ip -s -s link: the stats64 counters of every link equal Stats.get/2", %{
    ns: ns,
    sock: sock
  } do
    {ip, ours} =
      stable(fn -> Sandbox.ip_json!(ns.name, ~w(-s -s link show)) end, fn ->
        # one GET per link, by ifindex, all between the two ip reads
        {:ok, links} = Link.list(sock)

        Map.new(links, fn l ->
          {:ok, stats} = Stats.get(sock, l.index)
          {l.index, {stats, l}}
        end)
      end)

    errors =
      Enum.flat_map(ip, fn link ->
        {%Stats{link: %Link64{} = l}, %Link{} = as_link} = Map.fetch!(ours, link["ifindex"])
        stats = link["stats64"] || flunk("#{link["ifname"]}: ip printed no stats64")

        compare(
          "#{link["ifname"]}.stats64",
          stats,
          &stats64(&1, &2, l, &3, as_link.carrier_changes)
        )
      end)

    assert errors == [], "ip and Linx disagree:\n  " <> Enum.join(errors, "\n  ")

    # the ping traffic is there
    t1 = Enum.find(ip, &(&1["ifname"] == "t1"))
    {%Stats{link: l}, _} = ours[t1["ifindex"]]
    assert l.tx_packets >= 10 and l.rx_packets >= 10
  end

  test "ip -s -s stats show: every group matches Stats.list(sock, groups: :all)", %{
    ns: ns,
    sock: sock
  } do
    {ip, ours} =
      stable(fn -> Sandbox.ip_json!(ns.name, ~w(-s -s stats show)) end, fn ->
        {:ok, stats} = Stats.list(sock, groups: :all)
        Map.new(stats, &{&1.ifindex, &1})
      end)

    errors =
      Enum.flat_map(ip, fn entry ->
        s = Map.fetch!(ours, entry["ifindex"])
        where = "#{entry["ifname"]}/#{entry["group"]}/#{entry["subgroup"]}/#{entry["suite"]}"
        compare(where, entry, &entry_key(&1, &2, s, entry, &3))
      end)

    assert errors == [], "ip and Linx disagree:\n  " <> Enum.join(errors, "\n  ")

    # the walk went through the groups Linx decodes
    groups = MapSet.new(ip, &{&1["group"], &1["subgroup"], &1["suite"]})

    for g <- [
          {"link", nil, nil},
          {"offload", "hw_stats_info", nil},
          {"offload", "l3_stats", nil},
          {"xstats", "bridge", "mcast"},
          {"xstats_slave", "bridge", "stp"},
          {"xstats_slave", "bridge", "mcast"}
        ],
        do: assert(g in groups, "ip printed no #{inspect(g)}")

    assert Enum.any?(ip, &(&1["group"] == "xstats" and is_map(&1["multicast"])))
    assert Enum.any?(ip, &(&1["group"] == "xstats_slave" and is_map(&1["stp"])))
  end

  # --- snapshot ---------------------------------------------------------------------------

  defp stable(ip_fun, linx_fun, attempts \\ 50) do
    ip1 = ip_fun.()
    ours = linx_fun.()
    ip2 = ip_fun.()

    cond do
      ip1 == ip2 ->
        {ip1, ours}

      attempts > 1 ->
        Process.sleep(100)
        stable(ip_fun, linx_fun, attempts - 1)

      true ->
        flunk("the counters never stayed still long enough to compare")
    end
  end

  # --- the comparison -----------------------------------------------------------------------

  # `expect.(key, value, path)` answers {:ok, expected}, {:errors, list} or :unmapped.
  defp compare(path, ip_map, expect) do
    Enum.flat_map(Enum.sort(ip_map), fn {key, value} ->
      where = "#{path}.#{key}"

      case expect.(key, value, where) do
        {:ok, ^value} -> []
        {:ok, expected} -> ["#{where}: ip #{inspect(value)}, Linx #{inspect(expected)}"]
        {:errors, errors} -> errors
        :unmapped -> ["#{where}: ip prints #{inspect(value)} but the test maps no Linx field"]
      end
    end)
  end

  # print_stats64 (JSON, -s -s)
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

  # `carrier_changes` is IFLA_CARRIER_CHANGES, which `ip -s -s link` prints among the tx
  # counters: an RTM_NEWLINK attribute, not a statistic, so it is checked against
  # Link's decoding of the same link (read in the same window).
  defp stats64(dir, ip, l, where, carrier_changes \\ nil)

  defp stats64(dir, ip, l, where, carrier_changes) when dir in ["rx", "tx"] do
    table = if dir == "rx", do: @rx, else: @tx

    {:errors,
     compare(where, ip, fn
       "carrier_changes", _, _ when dir == "tx" and carrier_changes != nil ->
         {:ok, carrier_changes}

       key, _, _ ->
         if f = table[key], do: {:ok, Map.fetch!(l, f)}, else: :unmapped
     end)}
  end

  defp stats64(_key, _ip, _l, _where, _carrier_changes), do: :unmapped

  # print_hw_stats64
  @hw_rx %{
    "bytes" => :rx_bytes,
    "packets" => :rx_packets,
    "errors" => :rx_errors,
    "dropped" => :rx_dropped,
    "multicast" => :multicast
  }
  @hw_tx %{
    "bytes" => :tx_bytes,
    "packets" => :tx_packets,
    "errors" => :tx_errors,
    "dropped" => :tx_dropped
  }

  # print_mpls_link_stats
  @mpls_rx %{
    "bytes" => :rx_bytes,
    "packets" => :rx_packets,
    "errors" => :rx_errors,
    "dropped" => :rx_dropped,
    "noroute" => :rx_noroute
  }
  @mpls_tx @hw_tx

  defp counters(ip, struct, where, rx, tx) do
    {:errors,
     compare(where, ip, fn
       dir, sub, w when dir in ["rx", "tx"] and is_map(sub) ->
         table = if dir == "rx", do: rx, else: tx

         {:errors,
          compare(w, sub, fn key, _, _ ->
            if f = table[key], do: {:ok, Map.fetch!(struct, f)}, else: :unmapped
          end)}

       _, _, _ ->
         :unmapped
     end)}
  end

  # One `ip stats` entry: identity keys, then the group's data.
  defp entry_key("ifindex", _, s, _, _), do: {:ok, s.ifindex}
  defp entry_key("ifname", v, _, _, _), do: {:ok, v}
  defp entry_key(k, v, _, _, _) when k in ["group", "subgroup", "suite"], do: {:ok, v}

  defp entry_key("stats64", ip, s, %{"group" => "link"}, where),
    do: {:errors, compare(where, ip, &stats64(&1, &2, s.link, &3))}

  # offload cpu_hit: IFLA_OFFLOAD_XSTATS_CPU_HIT, a struct rtnl_link_stats64
  defp entry_key("stats64", ip, s, %{"group" => "offload", "subgroup" => "cpu_hit"}, where),
    do: {:errors, compare(where, ip, &stats64(&1, &2, s.offload_xstats.cpu_hit, &3))}

  defp entry_key("stats64", ip, s, %{"group" => "offload", "subgroup" => "l3_stats"}, where),
    do: counters(ip, s.offload_xstats.l3_stats, where, @hw_rx, @hw_tx)

  # hw_stats_info: {"l3_stats": {"request", "used"}}; l3_stats: the l3_stats info itself
  defp entry_key("info", _ip, s, %{"subgroup" => "hw_stats_info"}, _),
    do: {:ok, hw_s_info_json(s.offload_xstats.hw_s_info)}

  defp entry_key("info", _ip, s, %{"subgroup" => "l3_stats"}, _),
    do: {:ok, hw_s_info_json(s.offload_xstats.hw_s_info)["l3_stats"]}

  defp entry_key("multicast", ip, s, %{"group" => g, "subgroup" => "bridge"}, where),
    do: {:errors, mcast(ip, xstats(s, g).bridge.mcast, where)}

  defp entry_key("stp", ip, s, %{"group" => g, "subgroup" => "bridge"}, where) do
    stp = xstats(s, g).bridge.stp

    {:errors,
     compare(where, ip, fn key, _, _ -> {:ok, Map.fetch!(stp, String.to_existing_atom(key))} end)}
  end

  defp entry_key("mpls_stats", ip, s, %{"group" => "afstats"}, where),
    do: counters(ip, s.af_spec.mpls, where, @mpls_rx, @mpls_tx)

  defp entry_key(_key, _ip, _s, _entry, _where), do: :unmapped

  defp xstats(s, "xstats"), do: s.xstats
  defp xstats(s, "xstats_slave"), do: s.xstats_slave

  defp hw_s_info_json(info) do
    for {kind, %{request: r, used: u}} <- info,
        into: %{},
        do: {to_string(kind), %{"request" => r, "used" => u}}
  end

  # bridge_print_stats_mcast: queries/reports per version and direction, leaves, parse
  # errors (the mcast byte and packet counters are not printed)
  defp mcast(ip, m, where) do
    expected = %{
      "igmp_queries" => %{
        "rx_v1" => m.igmp_v1queries_rx,
        "rx_v2" => m.igmp_v2queries_rx,
        "rx_v3" => m.igmp_v3queries_rx,
        "tx_v1" => m.igmp_v1queries_tx,
        "tx_v2" => m.igmp_v2queries_tx,
        "tx_v3" => m.igmp_v3queries_tx
      },
      "igmp_reports" => %{
        "rx_v1" => m.igmp_v1reports_rx,
        "rx_v2" => m.igmp_v2reports_rx,
        "rx_v3" => m.igmp_v3reports_rx,
        "tx_v1" => m.igmp_v1reports_tx,
        "tx_v2" => m.igmp_v2reports_tx,
        "tx_v3" => m.igmp_v3reports_tx
      },
      "igmp_leaves" => %{"rx" => m.igmp_leaves_rx, "tx" => m.igmp_leaves_tx},
      "igmp_parse_errors" => m.igmp_parse_errors,
      "mld_queries" => %{
        "rx_v1" => m.mld_v1queries_rx,
        "rx_v2" => m.mld_v2queries_rx,
        "tx_v1" => m.mld_v1queries_tx,
        "tx_v2" => m.mld_v2queries_tx
      },
      "mld_reports" => %{
        "rx_v1" => m.mld_v1reports_rx,
        "rx_v2" => m.mld_v2reports_rx,
        "tx_v1" => m.mld_v1reports_tx,
        "tx_v2" => m.mld_v2reports_tx
      },
      "mld_leaves" => %{"rx" => m.mld_leaves_rx, "tx" => m.mld_leaves_tx},
      "mld_parse_errors" => m.mld_parse_errors
    }

    compare(where, ip, fn key, _, _ ->
      if Map.has_key?(expected, key), do: {:ok, expected[key]}, else: :unmapped
    end)
  end
end
