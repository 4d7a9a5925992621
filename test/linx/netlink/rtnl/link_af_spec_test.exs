defmodule Linx.Netlink.Rtnl.LinkAfSpecTest do
  # IFLA_AF_SPEC against the kernel's other views of the same data, read inside the
  # sandbox netns with `ip netns exec`:
  #   * IFLA_INET_CONF / IFLA_INET6_CONF  vs  /proc/sys/net/ipv{4,6}/conf/DEV/*
  #   * IFLA_INET6_STATS / ICMP6STATS     vs  /proc/net/dev_snmp6/DEV
  #   * IFLA_INET6_CACHEINFO              vs  /proc/sys/net/ipv6/neigh/DEV/*
  #   * IFLA_INET6_TOKEN                  vs  `ip token`
  # (IFLA_INET6_ADDR_GEN_MODE is compared with `ip -d link` by link_oracle_test.exs.)
  use ExUnit.Case, async: false

  @moduletag :root
  @moduletag :iproute2

  alias Linx.Netlink.{Rtnl, Socket}
  alias Linx.Netlink.Rtnl.Link
  alias Linx.Netlink.Rtnl.Link.AfSpec
  alias Linx.Test.Sandbox

  doctest AfSpec

  setup_all do
    ns = Sandbox.netns!(tag: "afspec")

    for args <- [
          ~w(link add v0 type veth peer name v1),
          ~w(link set v0 up),
          ~w(link set v1 up),
          ~w(addr add 2001:db8::1/64 dev v0 nodad),
          ~w(addr add 2001:db8::2/64 dev v1 nodad),
          ~w(addr add 10.9.0.1/24 dev v0)
        ],
        do: Sandbox.ip!(ns.name, args)

    # Settings away from their defaults, so that a value in the wrong slot shows.
    sysctl(ns, ~w(
      net.ipv4.conf.v0.forwarding=1 net.ipv4.conf.v0.rp_filter=2
      net.ipv4.conf.v0.arp_ignore=1 net.ipv4.conf.v0.arp_announce=2
      net.ipv4.conf.v0.log_martians=1 net.ipv4.conf.v0.accept_local=1
      net.ipv4.conf.v0.route_localnet=1 net.ipv4.conf.v0.proxy_arp=1
      net.ipv4.conf.v0.arp_notify=1 net.ipv4.conf.v0.drop_gratuitous_arp=1
      net.ipv6.conf.v0.hop_limit=33 net.ipv6.conf.v0.mtu=1400 net.ipv6.conf.v0.accept_ra=2
      net.ipv6.conf.v0.dad_transmits=3 net.ipv6.conf.v0.use_tempaddr=2
      net.ipv6.conf.v0.ndisc_tclass=5 net.ipv6.conf.v0.router_solicitations=7
      net.ipv6.conf.v0.router_solicitation_interval=9 net.ipv6.conf.v0.max_addresses=11
      net.ipv6.neigh.v0.retrans_time_ms=2000
    ))

    Sandbox.ip!(ns.name, ~w(token set ::1a:2b:3c:4d dev v0))

    # IPv6 and ICMPv6 traffic on v0, so the counters are not all zero
    Sandbox.cmd!("ip", ~w(netns exec #{ns.name} ping -6 -c 3 -i 0.2 -W 1 2001:db8::2))
    %{ns: ns}
  end

  setup %{ns: ns} do
    {:ok, sock} = Rtnl.open({:path, ns.path})
    on_exit(fn -> Socket.close(sock) end)
    %{sock: sock}
  end

  defp sysctl(ns, settings),
    do: Sandbox.cmd!("ip", ["netns", "exec", ns.name, "sysctl", "-q", "-w" | settings])

  defp in_ns(ns, command), do: Sandbox.cmd!("ip", ["netns", "exec", ns.name, "sh", "-c", command])

  # name => integer for every readable file of a /proc/sys directory
  defp proc_sys(ns, dir) do
    ns
    |> in_ns("cd #{dir} && grep -r . . 2>/dev/null || true")
    |> String.split("\n", trim: true)
    |> Enum.flat_map(fn "./" <> line ->
      [name, value] = String.split(line, ":", parts: 2)

      case Integer.parse(String.trim(value)) do
        {n, ""} -> [{name, n}]
        _ -> []
      end
    end)
    |> Map.new()
  end

  test "IPv4 settings match /proc/sys/net/ipv4/conf/v0", %{ns: ns, sock: sock} do
    {:ok, link} = Link.get(sock, "v0")
    assert %AfSpec{inet: %AfSpec.Inet{conf: conf}} = link.af_spec
    proc = proc_sys(ns, "/proc/sys/net/ipv4/conf/v0")

    named = for {name, v} <- conf, is_atom(name), into: %{}, do: {Atom.to_string(name), v}
    compared = Map.keys(named) -- (Map.keys(named) -- Map.keys(proc))

    # every IPV4_DEVCONF_* the table names has a sysctl file, and every one agrees
    assert Enum.sort(compared) == Enum.sort(Map.keys(named))
    assert length(compared) >= 30
    for name <- compared, do: assert({name, named[name]} == {name, proc[name]})

    assert %{forwarding: 1, rp_filter: 2, arp_ignore: 1, proxy_arp: 1} = conf
  end

  # netlink reports these in milliseconds, /proc/sys in seconds (proc_dointvec_jiffies)
  @v6_seconds ~w(router_solicitation_interval router_solicitation_delay router_probe_interval
                 router_solicitation_max_interval)

  test "IPv6 settings match /proc/sys/net/ipv6/conf/v0", %{ns: ns, sock: sock} do
    {:ok, link} = Link.get(sock, "v0")
    assert %AfSpec{inet6: %AfSpec.Inet6{conf: conf}} = link.af_spec
    proc = proc_sys(ns, "/proc/sys/net/ipv6/conf/v0")

    named = for {name, v} <- conf, is_atom(name), into: %{}, do: {Atom.to_string(name), v}
    compared = Map.keys(named) -- (Map.keys(named) -- Map.keys(proc))

    # stable_secret is unreadable while unset (EIO); every other name has a file
    assert Map.keys(named) -- compared == ["stable_secret"]

    for name <- compared do
      expected = if name in @v6_seconds, do: proc[name] * 1000, else: proc[name]
      assert {name, named[name]} == {name, expected}
    end

    assert %{hop_limit: 33, mtu: 1400, accept_ra: 2, router_solicitation_interval: 9000} = conf
    # positions past the header's table keep their index as the key
    assert Enum.all?(Map.keys(conf), &(is_atom(&1) or (is_integer(&1) and &1 >= 59)))
  end

  test "IPv6 and ICMPv6 counters match /proc/net/dev_snmp6/v0", %{ns: ns, sock: sock} do
    {proc, inet6} = stable_counters(ns, sock)

    ip6 = for {"Ip6" <> name, v} <- proc, into: %{}, do: {squash(name), v}
    icmp6 = for {"Icmp6" <> name, v} <- proc, into: %{}, do: {squash(name), v}

    stats = for {name, v} <- inet6.stats, is_atom(name), into: %{}, do: {squash(name), v}
    icmp = for {name, v} <- inet6.icmp6_stats, is_atom(name), into: %{}, do: {squash(name), v}

    # every Ip6* line of /proc names one of the positions, with the same count
    assert Map.keys(ip6) -- Map.keys(stats) == []
    for {name, v} <- ip6, do: assert({name, stats[name]} == {name, v})
    assert stats["inreceives"] > 0 and stats["outrequests"] > 0

    shared = Map.keys(icmp) -- (Map.keys(icmp) -- Map.keys(icmp6))
    assert length(shared) >= 5
    for name <- shared, do: assert({name, icmp[name]} == {name, icmp6[name]})
    assert icmp["outmsgs"] > 0
  end

  test "cache info and token", %{ns: ns, sock: sock} do
    {:ok, link} = Link.get(sock, "v0")
    assert %AfSpec.Inet6{cacheinfo: info, token: token} = link.af_spec.inet6
    neigh = proc_sys(ns, "/proc/sys/net/ipv6/neigh/v0")

    assert info.retrans_time == neigh["retrans_time_ms"]
    assert info.retrans_time == 2000
    # reachable_time is drawn from [base/2, 3*base/2)
    base = neigh["base_reachable_time_ms"]
    assert info.reachable_time >= div(base, 2) and info.reachable_time < div(base * 3, 2)

    assert token == Linx.IP.parse!("::1a:2b:3c:4d")
    assert Sandbox.ip!(ns.name, ~w(token get dev v0)) =~ "::1a:2b:3c:4d"
  end

  test "the IPv6 data of a link with IPv6 disabled, and decoding never raises", %{sock: sock} do
    {:ok, lo} = Link.get(sock, "lo")
    assert %AfSpec{inet6: %AfSpec.Inet6{}} = lo.af_spec

    for bad <- [<<1, 2, 3>>, <<8, 0, 10, 0, 1, 2, 3, 4>>, <<12, 0, 10, 0, 7, 0, 2, 0, 1, 2, 3>>] do
      assert %AfSpec{} = AfSpec.decode(bad)
    end

    # counters whose length is not a multiple of 8 decode to nil, not a crash
    assert AfSpec.Inet6Stats.decode(<<1, 2, 3>>) == nil
    assert AfSpec.InetConf.decode(<<1, 2, 3>>) == nil
    assert AfSpec.CacheInfo.decode(<<1>>) == nil
    assert_raise ArgumentError, ~r/read-only/, fn -> AfSpec.Inet6Stats.encode(%{}) end
  end

  defp squash(name), do: name |> to_string() |> String.replace("_", "") |> String.downcase()

  # /proc, then Linx, then /proc again, until the two /proc reads agree (MLD and ND
  # timers may send packets at any moment).
  defp stable_counters(ns, sock, attempts \\ 50) do
    before = dev_snmp6(ns)
    {:ok, link} = Link.get(sock, "v0")
    later = dev_snmp6(ns)

    cond do
      before == later -> {before, link.af_spec.inet6}
      attempts > 1 -> stable_counters(ns, sock, attempts - 1)
      true -> flunk("the counters never stayed still")
    end
  end

  defp dev_snmp6(ns) do
    ns
    |> in_ns("cat /proc/net/dev_snmp6/v0")
    |> String.split("\n", trim: true)
    |> Map.new(fn line ->
      [name, value] = String.split(line)
      {name, String.to_integer(value)}
    end)
  end
end
