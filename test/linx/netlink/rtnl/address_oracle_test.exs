defmodule Linx.Netlink.Rtnl.AddressOracleTest do
  # `ip -j -o addr show` is the oracle: every key it prints for every address of a
  # private netns must match what `Address.list/1` decoded, and the two must list the
  # same addresses. A key the comparison does not know fails the test.
  #
  # Key names and formats: iproute2 ip/ipaddress.c print_addrinfo and print_ifa_flags
  # (with -o each entry carries "index" and "dev").
  use ExUnit.Case, async: false

  @moduletag :root
  @moduletag :iproute2

  alias Linx.Netlink.{Rtnl, Socket}
  alias Linx.Netlink.Rtnl.{Address, Link}
  alias Linx.Test.Sandbox

  setup_all do
    ns = Sandbox.netns!(tag: "addro")

    # o1 has no carrier (its peer o2 stays down), so IPv6 duplicate address detection
    # never runs there and a plain IPv6 address stays "tentative".
    Sandbox.ip!(ns.name, ~w(link add o1 type veth peer name o2))

    # optimistic DAD must be enabled on the link for the kernel to keep that flag
    # (sysctls of the private netns only)
    Sandbox.cmd!("ip", ~w(netns exec #{ns.name} sysctl -qw net.ipv6.conf.o1.optimistic_dad=1))

    batch = """
    link add o0 type veth peer name o3
    link set o0 up
    link set o3 up
    link set o1 up
    addr add 10.30.0.1/24 brd + dev o0 label o0:one valid_lft 900 preferred_lft 600 metric 5
    addr add 10.30.0.2/24 dev o0
    addr add 10.31.0.1 peer 10.31.0.2/32 dev o0 scope link
    addr add 10.32.0.1/16 dev o0 noprefixroute
    addr add 10.33.0.1/24 dev o0 valid_lft 1000 preferred_lft 0
    addr add 10.34.0.1/24 brd 10.34.0.77 dev o0 scope host
    addr add fd00:30::1/64 dev o1 nodad
    addr add fd00:31::1/64 dev o1
    addr add fd00:32::1/64 dev o1 nodad mngtmpaddr noprefixroute
    addr add fd00:33::1/64 dev o1 nodad home valid_lft 500 preferred_lft 0
    addr add fd00:34::1/64 dev o1 optimistic
    addr add fd00:35::1/128 dev o0 nodad
    addr add fd00:36::1 peer fd00:36::2/128 dev o0 nodad
    addr add 10.35.0.1/8 dev o3
    """

    path = Path.join(System.tmp_dir!(), "#{ns.name}.batch")
    File.write!(path, batch)
    on_exit(fn -> File.rm(path) end)
    Sandbox.ip!(ns.name, ["-batch", path])
    %{ns: ns}
  end

  setup %{ns: ns} do
    {:ok, sock} = Rtnl.open({:path, ns.path})
    on_exit(fn -> Socket.close(sock) end)
    %{sock: sock}
  end

  test "every key ip prints for every address matches Address.list/1", %{ns: ns, sock: sock} do
    {ip_addrs, addrs} = stable_snapshot(ns, sock)
    {:ok, links} = Link.list(sock)
    names = Map.new(links, &{&1.index, &1.name})

    ours = Map.new(addrs, &{key(&1), &1})
    theirs = Map.new(ip_addrs, &{{&1["index"], &1["family"], &1["local"], &1["prefixlen"]}, &1})

    assert Enum.sort(Map.keys(ours)) == Enum.sort(Map.keys(theirs))
    assert map_size(ours) == length(addrs), "two decoded addresses share a key"

    errors =
      Enum.flat_map(theirs, fn {k, ip} ->
        a = Map.fetch!(ours, k)
        compare(k, ip, &expect(&1, &2, a, names))
      end)

    assert errors == [], "ip and Linx disagree:\n  " <> Enum.join(errors, "\n  ")

    # what the setup built is really there, with the shapes the comparison relied on
    by_local = Map.new(addrs, &{Linx.IP.to_string(&1.local || &1.address), &1})
    assert Address.flag_names(by_local["10.30.0.2"]) |> Enum.member?(:secondary)
    assert :tentative in Address.flag_names(by_local["fd00:31::1"])
    assert :deprecated in Address.flag_names(by_local["fd00:33::1"])
    assert :optimistic in Address.flag_names(by_local["fd00:34::1"])
    assert :mngtmpaddr in Address.flag_names(by_local["fd00:32::1"])
    assert by_local["10.31.0.1"].address == Linx.IP.parse!("10.31.0.2")
    assert by_local["fd00:36::1"].address == Linx.IP.parse!("fd00:36::2")
    assert by_local["10.30.0.1"].label == "o0:one"
    assert Address.scope_name(by_local["10.34.0.1"]) == :host
    assert Enum.any?(addrs, &(&1.family == 10 and Address.scope_name(&1) == :link))
  end

  test "list by link and by family agree with ip's per-device and per-family output", %{
    ns: ns,
    sock: sock
  } do
    for dev <- ~w(o0 o1 o3 lo), family <- [:inet, :inet6] do
      flag = if family == :inet, do: "-4", else: "-6"
      ip = for a <- ip_dump(ns, [flag, "addr", "show", "dev", dev]), do: a["local"]
      {:ok, addrs} = Address.list(sock, link: dev, family: family)

      assert Enum.sort(ip) ==
               Enum.sort(for(a <- addrs, do: Linx.IP.to_string(a.local || a.address)))
    end
  end

  # --- snapshot ---------------------------------------------------------------------------

  # ip, Linx, ip: retried until the two ip dumps agree on everything but the lifetimes
  # (which count down between the reads).
  defp stable_snapshot(ns, sock, attempts \\ 50) do
    ip1 = ip_dump(ns, ~w(addr show))
    {:ok, addrs} = Address.list(sock)
    ip2 = ip_dump(ns, ~w(addr show))

    cond do
      strip_lifetimes(ip1) == strip_lifetimes(ip2) ->
        {ip1, addrs}

      attempts > 1 ->
        Process.sleep(100)
        stable_snapshot(ns, sock, attempts - 1)

      true ->
        flunk("the addresses never stayed still long enough to compare")
    end
  end

  defp ip_dump(ns, args) do
    Sandbox.ip_json!(ns.name, ["-o" | args]) |> Enum.flat_map(& &1["addr_info"])
  end

  defp strip_lifetimes(list),
    do: Enum.map(list, &Map.drop(&1, ["valid_life_time", "preferred_life_time"]))

  defp key(%Address{} = a) do
    family = if a.family == 2, do: "inet", else: "inet6"
    {a.index, family, Linx.IP.to_string(a.local || a.address), a.prefixlen}
  end

  # --- the comparison -----------------------------------------------------------------------

  defp compare(k, ip_map, expect) do
    Enum.flat_map(Enum.sort(ip_map), fn {key, value} ->
      where = "#{inspect(k)}.#{key}"

      case expect.(key, value) do
        {:ok, ^value} ->
          []

        {:ok, expected} ->
          ["#{where}: ip #{inspect(value)}, Linx #{inspect(expected)}"]

        {:lifetime, ours} when is_integer(ours) and is_integer(value) ->
          # lifetimes count down between the two reads
          if abs(ours - value) <= 3, do: [], else: ["#{where}: ip #{value}, Linx #{ours}"]

        {:lifetime, ours} ->
          ["#{where}: ip #{inspect(value)}, Linx #{inspect(ours)}"]

        :unmapped ->
          ["#{where}: ip prints #{inspect(value)} but the test maps no Linx field"]
      end
    end)
  end

  # ip's flag keys (print_ifa_flags: ifa_flag_data names, "temporary" for the IPv6
  # secondary bit, "dynamic" when IFA_F_PERMANENT is clear)
  @flag_keys %{
    "secondary" => :secondary,
    "temporary" => :temporary,
    "nodad" => :nodad,
    "optimistic" => :optimistic,
    "dadfailed" => :dadfailed,
    "home" => :home,
    "deprecated" => :deprecated,
    "tentative" => :tentative,
    "mngtmpaddr" => :mngtmpaddr,
    "noprefixroute" => :noprefixroute,
    "autojoin" => :autojoin,
    "stable-privacy" => :stable_privacy
  }

  defp expect("index", _, a, _), do: {:ok, a.index}
  defp expect("dev", _, a, names), do: {:ok, names[a.index]}
  defp expect("family", _, a, _), do: {:ok, elem(key(a), 1)}
  # IFA_LOCAL, or IFA_ADDRESS when the kernel sent no IFA_LOCAL (IPv6)
  defp expect("local", _, a, _), do: {:ok, Linx.IP.to_string(a.local || a.address)}
  # printed only when IFA_ADDRESS differs from IFA_LOCAL: the peer
  defp expect("address", _, a, _), do: {:ok, a.address && Linx.IP.to_string(a.address)}
  defp expect("prefixlen", _, a, _), do: {:ok, a.prefixlen}
  defp expect("metric", _, a, _), do: {:ok, a.rt_priority}
  defp expect("broadcast", _, a, _), do: {:ok, a.broadcast && Linx.IP.to_string(a.broadcast)}
  defp expect("anycast", _, a, _), do: {:ok, a.anycast && Linx.IP.to_string(a.anycast)}
  defp expect("label", _, a, _), do: {:ok, a.label}

  # rtnl_rtscope_n2a with /etc/iproute2/rt_scopes: 0 "global"
  defp expect("scope", _, a, _) do
    case Address.scope_name(a) do
      :universe -> {:ok, "global"}
      n when is_integer(n) -> {:ok, Integer.to_string(n)}
      name -> {:ok, Atom.to_string(name)}
    end
  end

  defp expect("dynamic", _, a, _), do: {:ok, :permanent not in Address.flag_names(a)}

  defp expect(key, _, a, _) when is_map_key(@flag_keys, key),
    do: {:ok, @flag_keys[key] in Address.flag_names(a)}

  defp expect("valid_life_time", _, a, _), do: {:lifetime, a.cacheinfo.valid_lft}
  defp expect("preferred_life_time", _, a, _), do: {:lifetime, a.cacheinfo.preferred_lft}
  defp expect(_key, _, _a, _), do: :unmapped
end
