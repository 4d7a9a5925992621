defmodule Linx.Netlink.Rtnl.RouteOracleTest do
  # `ip -d -j route show table all` (and `ip -6 ...`) is the oracle: every key it prints
  # for every route of a private netns must match what `Route.list/2` decoded. A key the
  # comparison does not know fails the test. The netns holds many kinds of route: device,
  # gateway, multipath with weights, RTAX metrics, every type ip can add, tables by
  # number and by name, onlink, linkdown, tos, protocols, scopes, prefsrc, IPv6 source
  # prefixes, IPv6 link-local gateways, preferences and expiry, realms, RTA_VIA, and
  # routes through nexthop objects (whose `nh_info` is checked against `Nexthop.get/2`).
  #
  # Key names and formats: iproute2 6.1 ip/iproute.c (print_route, print_rta_metrics,
  # print_rta_multipath, print_rt_flags, print_rta_flow, print_rta_cacheinfo) and
  # ip/ipnexthop.c (print_nexthop) for nh_info.
  #
  # Not async: see link_oracle_test.exs (the fd-leak check of SocketTest).
  use ExUnit.Case, async: false

  @moduletag :root
  @moduletag :iproute2

  import Bitwise

  alias Linx.Netlink.{Rtnl, Socket}
  alias Linx.Netlink.Rtnl.{Link, Nexthop, Route}
  alias Linx.Test.Sandbox

  @batch """
  link add v0 type veth peer name v1
  link set v0 up
  link set v1 up
  link add v2 type veth peer name v3
  link set v2 up
  addr add 10.0.0.1/24 dev v0
  addr add 10.0.2.1/24 dev v2
  addr add 2001:db8::1/64 dev v0 nodad
  addr add 2001:db8:2::1/64 dev v2 nodad
  nexthop add id 1 via 10.0.0.2 dev v0
  nexthop add id 2 via 10.0.0.3 dev v0
  nexthop add id 3 group 1/2,5
  nexthop add id 4 group 1/2 type resilient buckets 8 idle_timer 60
  nexthop add id 5 via 2001:db8::5 dev v0
  nexthop add id 6 blackhole
  route add 10.1.0.0/16 via 10.0.0.2 metric 5 mtu lock 1400 advmss 1300 initcwnd 10 rtt 100ms window 1000 congctl cubic
  route add 10.2.0.0/16 dev v0 src 10.0.0.1 table 100
  route add blackhole 10.3.0.0/16
  route add unreachable 10.4.0.0/16 table 200
  route add prohibit 10.5.0.0/16
  route add throw 10.6.0.0/16 table 100
  route add 10.7.0.0/16 nexthop via 10.0.0.2 weight 3 nexthop via 10.0.0.3 dev v0 weight 1
  route add 10.8.0.0/16 via 10.0.9.9 dev v0 onlink proto static
  route add 10.9.0.0/16 nhid 3
  route add 10.10.0.0/16 nhid 4 table 1000
  route add 10.11.0.0/16 nhid 6
  route add 10.12.0.0/16 via inet6 fe80::1 dev v0
  route add 10.13.0.0/16 via 10.0.0.2 realm 5
  route add 10.14.0.0/16 via 10.0.0.2 realms 3/4
  route add 10.15.0.0/16 via 10.0.0.2 rtt 2s rttvar 3s rto_min 5ms hoplimit 5 reordering 3 ssthresh 4 cwnd 7 initrwnd 8 quickack 1 features ecn fastopen_no_cookie 1
  route add 10.16.0.0/16 via 10.0.0.2 tos 0x10 proto 77
  route add 10.17.0.0/16 dev v2
  route add anycast 10.18.0.1 dev v0 table local
  route add multicast 224.1.0.0/16 dev v0 table local
  route add 10.19.0.0/16 via 10.0.0.2 table default proto bird
  route add 10.20.0.0/16 dev v0 scope host
  route add 10.21.0.0/16 dev v0 scope 200
  route add default via 10.0.0.254
  route add 10.22.0.0/16 via 10.0.0.2 table 100
  route append 10.22.0.0/16 via 10.0.0.3 table 100
  route add 10.23.0.0/16 via 10.0.0.2 dev v0 src 10.0.0.1 proto bgp
  route add 10.24.0.1 dev v0
  route add 2001:db8:10::/48 via fe80::1 dev v0 pref high expires 3000
  route add 2001:db8:11::/48 from 2001:db8::/64 dev v0
  route add 2001:db8:12::/48 via fe80::1 dev v0 pref low metric 7
  route add anycast 2001:db8:13::1 dev v0 table local
  route add 2001:db8:14::/48 nexthop via 2001:db8::2 dev v0 weight 2 nexthop via 2001:db8::3 dev v0
  route add 2001:db8:15::/48 nhid 5
  route add blackhole 2001:db8:16::/48 table 100
  route add 2001:db8:17::/48 via 2001:db8::2 mtu 1300 hoplimit 10
  route add default via 2001:db8::fe metric 10
  route add 2001:db8:18::/48 dev v2
  route add 2001:db8:19::/48 dev v0 src 2001:db8::1
  route add unreachable 2001:db8:20::/48
  """

  setup_all do
    ns = Sandbox.netns!(tag: "routeoracle")
    path = Path.join(System.tmp_dir!(), "#{ns.name}.batch")
    File.write!(path, @batch)
    on_exit(fn -> File.rm(path) end)
    Sandbox.ip!(ns.name, ["-batch", path])
    %{ns: ns}
  end

  setup %{ns: ns} do
    {:ok, sock} = Rtnl.open({:path, ns.path})
    on_exit(fn -> Socket.close(sock) end)
    {:ok, links} = Link.list(sock)
    {:ok, nexthops} = Nexthop.list(sock)

    %{
      sock: sock,
      ctx: %{
        names: Map.new(links, &{&1.index, &1.name}),
        nexthops: Map.new(nexthops, &{&1.id, &1})
      }
    }
  end

  for {family, args} <- [
        inet: ~w(-4 -d route show table all),
        inet6: ~w(-6 -d route show table all)
      ] do
    test "every key ip prints for every #{family} route matches Route.list/2", %{
      ns: ns,
      sock: sock,
      ctx: ctx
    } do
      {ip_routes, routes} = stable_snapshot(ns, sock, unquote(family), unquote(args))
      assert length(ip_routes) == length(routes)

      errors =
        Enum.zip(ip_routes, routes)
        |> Enum.flat_map(fn {ip, r} -> compare("#{ip["dst"]}", ip, &route(&1, &2, r, ctx)) end)

      assert errors == [], "ip and Linx disagree:\n  " <> Enum.join(errors, "\n  ")

      # what the comparison walked through really is there
      seen = ip_routes |> Enum.flat_map(&Map.keys/1) |> MapSet.new()

      expected =
        if unquote(family) == :inet,
          do: ~w(metrics nexthops nhid nh_info via flow tos from prefsrc) -- ["from"],
          else: ~w(metrics nexthops nhid nh_info from prefsrc pref expires)

      assert MapSet.subset?(MapSet.new(expected), seen), inspect(MapSet.to_list(seen))

      types = ip_routes |> Enum.map(& &1["type"]) |> MapSet.new()
      assert MapSet.subset?(MapSet.new(~w(unicast local anycast blackhole unreachable)), types)
    end
  end

  # ip, then Linx, then ip again, until the two ip dumps agree (IPv6 address and
  # neighbour events can add or refresh routes); the expiry timer is left out.
  defp stable_snapshot(ns, sock, family, args, attempts \\ 30) do
    ip1 = Sandbox.ip_json!(ns.name, args)
    {:ok, routes} = Route.list(sock, family: family)
    ip2 = Sandbox.ip_json!(ns.name, args)

    cond do
      strip(ip1) == strip(ip2) ->
        {ip1, routes}

      attempts > 1 ->
        Process.sleep(100)
        stable_snapshot(ns, sock, family, args, attempts - 1)

      true ->
        flunk("the routes never stayed still long enough to compare")
    end
  end

  defp strip(routes), do: Enum.map(routes, &Map.delete(&1, "expires"))

  # Walks every key ip printed; `expect.(key, value)` gives what Linx has:
  # {:ok, expected} (must be equal), {:near, n} (a timer: within 2), {:errors, list}
  # (a nested comparison) or :unmapped (a failure: the test does not know the key).
  defp compare(path, ip_map, expect) do
    Enum.flat_map(Enum.sort(ip_map), fn {key, value} ->
      where = "#{path}.#{key}"

      case expect.(key, value) do
        {:ok, ^value} -> []
        {:ok, other} -> ["#{where}: ip #{inspect(value)}, Linx #{inspect(other)}"]
        {:near, n} when is_integer(n) and abs(n - value) <= 2 -> []
        {:near, n} -> ["#{where}: ip #{inspect(value)}, Linx #{inspect(n)}"]
        {:errors, errors} -> Enum.map(errors, &"#{path}.#{&1}")
        :unmapped -> ["#{where}: ip prints #{inspect(value)} but the test maps no Linx field"]
      end
    end)
  end

  # --- one route (print_route) -------------------------------------------------------------

  defp route("type", _, r, _), do: {:ok, r |> Route.type_name() |> to_string()}
  defp route("dst", _, r, _), do: {:ok, prefix(r.dst, r.dst_len, r.family, "default")}
  defp route("from", _, r, _), do: {:ok, prefix(r.src, r.src_len, r.family, "default")}
  defp route("gateway", _, r, _), do: {:ok, to_string(r.gateway)}
  defp route("prefsrc", _, r, _), do: {:ok, to_string(r.prefsrc)}
  defp route("via", _, r, _), do: {:ok, via(r.via)}
  defp route("dev", _, r, ctx), do: {:ok, ctx.names[r.oif]}
  defp route("metric", _, r, _), do: {:ok, r.priority}
  defp route("nhid", _, r, _), do: {:ok, r.nh_id}
  # rt_dsfield names only the DSCP classes; 0x10 is printed as a number
  defp route("tos", _, r, _),
    do:
      {:ok, "0x" <> String.pad_leading(Integer.to_string(r.tos, 16) |> String.downcase(), 2, "0")}

  defp route("table", _, r, _), do: {:ok, table_name(Route.target_table(r))}
  defp route("protocol", _, r, _), do: {:ok, name_or_number(Route.protocol_name(r))}
  defp route("scope", _, r, _), do: {:ok, scope(Route.scope_name(r))}
  defp route("flags", _, r, _), do: {:ok, rt_flags(Route.flag_names(r))}
  defp route("pref", _, r, _), do: {:ok, %{0 => "medium", 1 => "high", 3 => "low"}[r.pref]}
  # print_rta_cacheinfo: rta_expires / USER_HZ
  defp route("expires", _, r, _), do: {:near, div(r.cacheinfo.expires, 100)}
  defp route("flow", ip, r, _), do: {:errors, compare("flow", ip, &flow(&1, &2, r.flow))}

  defp route("metrics", [ip], r, _),
    do: {:errors, compare("metrics", ip, &metric(&1, &2, r.metrics))}

  defp route("nexthops", ip, r, ctx) do
    if length(ip) == length(r.multipath) do
      {:errors,
       Enum.zip(ip, r.multipath)
       |> Enum.with_index()
       |> Enum.flat_map(fn {{j, p}, i} -> compare("nexthops[#{i}]", j, &path(&1, &2, p, ctx)) end)}
    else
      {:errors, ["nexthops: ip #{length(ip)}, Linx #{inspect(r.multipath)}"]}
    end
  end

  defp route("nh_info", ip, r, ctx) do
    nh = Map.fetch!(ctx.nexthops, r.nh_id)
    {:errors, compare("nh_info", ip, &nexthop(&1, &2, nh, ctx))}
  end

  defp route(_key, _value, _r, _ctx), do: :unmapped

  # print_rta_multipath
  defp path("gateway", _, p, _), do: {:ok, to_string(p.gateway)}
  defp path("via", _, p, _), do: {:ok, via(p.via)}
  defp path("dev", _, p, ctx), do: {:ok, ctx.names[p.oif]}
  defp path("weight", _, p, _), do: {:ok, p.weight}
  defp path("flags", _, p, _), do: {:ok, rt_flags(Route.Path.flag_names(p))}
  defp path(_key, _v, _p, _ctx), do: :unmapped

  # print_rta_metrics: rtt in 1/8 ms and rttvar in 1/4 ms are printed in ms; a features
  # bit is a key of its own; RTAX_LOCK is shown only in text output.
  @metric_direct ~w(mtu window ssthresh cwnd advmss reordering hoplimit initcwnd rto_min
                    initrwnd quickack fastopen_no_cookie)

  defp metric(key, _, m) when key in @metric_direct,
    do: {:ok, Map.fetch!(m, String.to_existing_atom(key))}

  defp metric("rtt", _, m), do: {:ok, div(m.rtt, 8)}
  defp metric("rttvar", _, m), do: {:ok, div(m.rttvar, 4)}
  defp metric("congestion", _, m), do: {:ok, m.cc_algo}
  # RTAX_FEATURE_ECN (linux/rtnetlink.h), printed as a key with no value
  defp metric("ecn", _, m), do: {:ok, if((m.features &&& 1) != 0, do: nil, else: :absent)}
  defp metric(_key, _, _m), do: :unmapped

  # print_rta_flow: RTA_FLOW is (from realm << 16) | to realm
  defp flow("to", _, f), do: {:ok, Integer.to_string(f &&& 0xFFFF)}
  defp flow("from", _, f), do: {:ok, Integer.to_string(f >>> 16)}
  defp flow(_key, _, _f), do: :unmapped

  # --- nh_info (ip/ipnexthop.c print_nexthop) --------------------------------------------

  defp nexthop("id", _, nh, _), do: {:ok, nh.id}
  defp nexthop("gateway", _, nh, _), do: {:ok, to_string(nh.gateway)}
  defp nexthop("dev", _, nh, ctx), do: {:ok, ctx.names[nh.oif]}
  defp nexthop("blackhole", _, nh, _), do: {:ok, if(nh.blackhole, do: nil, else: :absent)}
  defp nexthop("fdb", _, nh, _), do: {:ok, if(nh.fdb, do: nil, else: :absent)}
  defp nexthop("scope", _, nh, _), do: {:ok, scope(name_of_scope(nh.scope))}

  defp nexthop("protocol", _, nh, _),
    do: {:ok, name_or_number(Route.protocol_name(%Route{protocol: nh.protocol}))}

  defp nexthop("flags", _, nh, _), do: {:ok, rt_flags(Nexthop.flag_names(nh))}
  defp nexthop("type", _, nh, _), do: {:ok, to_string(Nexthop.group_type_name(nh))}

  defp nexthop("group", ip, nh, _) do
    expected =
      Enum.map(nh.group, fn {id, w} ->
        if w == 1, do: %{"id" => id}, else: %{"id" => id, "weight" => w}
      end)

    {:ok, if(expected == ip, do: ip, else: expected)}
  end

  defp nexthop("resilient_args", ip, nh, _) do
    rg = nh.res_group

    {:errors,
     compare("resilient_args", ip, fn
       "buckets", _ -> {:ok, rg.buckets}
       # clock ticks (USER_HZ) printed as seconds
       "idle_timer", _ -> {:ok, div(rg.idle_timer, 100)}
       "unbalanced_timer", _ -> {:ok, div(rg.unbalanced_timer, 100)}
       "unbalanced_time", _ -> {:ok, div(rg.unbalanced_time, 100)}
       _, _ -> :unmapped
     end)}
  end

  defp nexthop(_key, _v, _nh, _ctx), do: :unmapped

  # --- formatting as iproute2 does -----------------------------------------------------------

  defp prefix(nil, 0, _family, default), do: default

  defp prefix(ip, len, family, default) do
    host = if family == 2, do: 32, else: 128

    cond do
      len == 0 and ip.bytes in [<<0::32>>, <<0::128>>] -> default
      len == host -> to_string(ip)
      true -> "#{ip}/#{len}"
    end
  end

  defp via(%Linx.IP{family: family} = ip),
    do: %{"family" => to_string(family), "host" => to_string(ip)}

  # /etc/iproute2/rt_tables
  defp table_name(253), do: "default"
  defp table_name(254), do: "main"
  defp table_name(255), do: "local"
  defp table_name(t), do: Integer.to_string(t)

  defp name_or_number(n) when is_integer(n), do: Integer.to_string(n)
  defp name_or_number(a), do: Atom.to_string(a)

  # /etc/iproute2/rt_scopes
  defp scope(:universe), do: "global"
  defp scope(other), do: name_or_number(other)

  defp name_of_scope(s), do: Route.scope_name(%Route{scope: s})

  # print_rt_flags prints these names, in this order
  @rt_flag_order [
    :dead,
    :onlink,
    :pervasive,
    :offload,
    :trap,
    :notify,
    :linkdown,
    :unresolved,
    :rt_offload,
    :rt_trap,
    :rt_offload_failed
  ]

  defp rt_flags(names), do: for(f <- @rt_flag_order, f in names, do: Atom.to_string(f))
end
