defmodule Linx.Netlink.Rtnl.NeighbourOracleTest do
  # `ip -N -j -s neigh show nud all` and `ip -N -j -s neigh show proxy` are the oracles: every
  # key they print for every entry of a private netns must match what
  # `Neighbour.list/1,2` decoded, and both sides must list the same entries. A key the
  # comparison does not know fails the test.
  #
  # Key names and formats: iproute2 ip/ipneigh.c print_neigh, print_cacheinfo (the
  # timers divided by USER_HZ) and print_neigh_state.
  use ExUnit.Case, async: false

  @moduletag :root
  @moduletag :iproute2

  alias Linx.Netlink.{Rtnl, Socket}
  alias Linx.Netlink.Rtnl.{Link, Neighbour}
  alias Linx.Test.Sandbox

  # sysconf(_SC_CLK_TCK): the unit of struct nda_cacheinfo
  @user_hz 100

  setup_all do
    n1 = Sandbox.netns!(tag: "nbo1")
    n2 = Sandbox.netns!(tag: "nbo2")
    Sandbox.ip!(n1.name, ~w(link add x1 type veth peer name x2 netns #{n2.name}))

    for {ns, dev, n} <- [{n1, "x1", 1}, {n2, "x2", 2}] do
      Sandbox.ip!(ns.name, ~w(addr add 10.41.0.#{n}/24 dev #{dev}))
      Sandbox.ip!(ns.name, ~w(addr add fd00:41::#{n}/64 dev #{dev} nodad))
      Sandbox.ip!(ns.name, ~w(link set #{dev} up))
    end

    batch = """
    link add y0 type veth peer name y1
    link set y0 up
    neigh add 10.41.0.50 lladdr 02:00:00:00:00:50 dev x1 nud permanent
    neigh add 10.41.0.51 lladdr 02:00:00:00:00:51 dev x1 nud stale
    neigh add 10.41.0.52 lladdr 02:00:00:00:00:52 dev x1 nud reachable protocol static
    neigh add 10.41.0.53 lladdr 02:00:00:00:00:53 dev x1 nud noarp
    neigh add 10.41.0.54 dev x1 managed
    neigh add 10.41.0.55 lladdr 02:00:00:00:00:55 dev x1 extern_learn
    neigh add fd00:41::50 lladdr 02:00:00:00:01:50 dev x1 router nud stale
    neigh add fd00:41::51 lladdr 02:00:00:00:01:51 dev x1 nud permanent protocol 99
    neigh add 10.42.0.5 lladdr 02:00:00:00:02:05 dev y0
    neigh add proxy 10.41.0.70 dev x1
    neigh add proxy fd00:41::70 dev x1
    neigh add proxy 10.41.0.71
    """

    path = Path.join(System.tmp_dir!(), "#{n1.name}.batch")
    File.write!(path, batch)
    on_exit(fn -> File.rm(path) end)
    Sandbox.ip!(n1.name, ["-batch", path])

    # A proxy entry without a device is not freed when its netns goes away (seen on
    # Linux 6.18): it lingers and shows up in a later netns that reuses the memory. It
    # is deleted here, before the netns is (on_exit callbacks run last-registered first).
    on_exit(fn -> Sandbox.ip!(n1.name, ~w(neigh del proxy 10.41.0.71)) end)

    # Learned entries (ARP and NDP resolution of n2), and one that never resolves. Each
    # learning ping sends until one reply (up to 5 s): a first probe sent while the new
    # veth pair is still coming up can go unanswered.
    Sandbox.cmd!("ip", ~w(netns exec #{n1.name} ping -c 1 -i 0.2 -w 5 10.41.0.2))
    Sandbox.cmd!("ip", ~w(netns exec #{n1.name} ping -c 1 -i 0.2 -w 5 fd00:41::2))
    System.cmd("ip", ~w(netns exec #{n1.name} ping -c 1 -W 1 10.41.0.99), stderr_to_stdout: true)

    %{ns: n1}
  end

  setup %{ns: ns} do
    {:ok, sock} = Rtnl.open({:path, ns.path})
    on_exit(fn -> Socket.close(sock) end)
    {:ok, links} = Link.list(sock)
    %{sock: sock, names: Map.new(links, &{&1.index, &1.name})}
  end

  test "every key of ip -s neigh show nud all matches Neighbour.list/1", %{
    ns: ns,
    sock: sock,
    names: names
  } do
    {ip, ours} = stable_snapshot(ns, ~w(neigh show nud all), fn -> Neighbour.list(sock) end)
    errors = compare_all(ip, ours, names)
    assert errors == [], "ip and Linx disagree:\n  " <> Enum.join(errors, "\n  ")

    # the setup built what the comparison walked through
    states = ours |> Enum.flat_map(&Neighbour.state_names/1) |> MapSet.new()

    for s <- [:permanent, :stale, :reachable, :noarp, :incomplete] do
      assert s in states or (s == :incomplete and :failed in states), "no #{s} entry"
    end

    flags = ours |> Enum.flat_map(&Neighbour.flag_names/1) |> MapSet.new()
    assert MapSet.subset?(MapSet.new([:router, :managed, :extern_learn]), flags)
    assert Enum.any?(ours, &(&1.family == 10)) and Enum.any?(ours, &(&1.family == 2))
    assert Enum.any?(ours, &(&1.protocol == 4))
  end

  test "every key of ip -s neigh show proxy matches Neighbour.list(sock, proxy: true)", %{
    ns: ns,
    sock: sock,
    names: names
  } do
    {ip, ours} =
      stable_snapshot(ns, ~w(neigh show proxy), fn -> Neighbour.list(sock, proxy: true) end)

    dsts = for n <- ours, do: Linx.IP.to_string(n.dst)
    assert Enum.all?(["10.41.0.70", "fd00:41::70", "10.41.0.71"], &(&1 in dsts))
    errors = compare_all(ip, ours, names)
    assert errors == [], "ip and Linx disagree:\n  " <> Enum.join(errors, "\n  ")
    # a proxy entry for every device has ifindex 0
    assert Enum.any?(ours, &(&1.ifindex == 0))
  end

  test "per-link and per-family dumps agree with ip's", %{ns: ns, sock: sock} do
    for dev <- ~w(x1 y0), {family, flag} <- [inet: "-4", inet6: "-6"] do
      {ip, ours} =
        stable_snapshot(ns, [flag, "neigh", "show", "dev", dev, "nud", "all"], fn ->
          Neighbour.list(sock, link: dev, family: family)
        end)

      assert Enum.sort(for e <- ip, do: e["dst"]) ==
               Enum.sort(for n <- ours, do: Linx.IP.to_string(n.dst))
    end
  end

  # --- snapshot ---------------------------------------------------------------------------

  # ip, Linx, ip: retried until the two ip dumps agree apart from the running timers.
  defp stable_snapshot(ns, args, linx, attempts \\ 50) do
    ip1 = ip_dump(ns, args)
    {:ok, ours} = linx.()
    ip2 = ip_dump(ns, args)

    cond do
      strip_timers(ip1) == strip_timers(ip2) ->
        {ip1, ours}

      attempts > 1 ->
        Process.sleep(100)
        stable_snapshot(ns, args, linx, attempts - 1)

      true ->
        flunk("the neighbour table never stayed still long enough to compare")
    end
  end

  # -N: numeric protocol names, so the comparison does not depend on rt_protos
  defp ip_dump(ns, args), do: Sandbox.ip_json!(ns.name, ["-N", "-s" | args])

  defp strip_timers(list), do: Enum.map(list, &Map.drop(&1, ~w(used confirmed updated)))

  # --- the comparison -----------------------------------------------------------------------

  defp compare_all(ip, ours, names) do
    key = fn dev, dst -> {dev, dst} end
    mine = Map.new(ours, &{key.(names[&1.ifindex], &1.dst && Linx.IP.to_string(&1.dst)), &1})
    theirs = Map.new(ip, &{key.(&1["dev"], &1["dst"]), &1})

    missing =
      for k <- Enum.sort(Map.keys(theirs)) -- Enum.sort(Map.keys(mine)),
          do: "#{inspect(k)}: ip lists it, Linx does not"

    extra =
      for k <- Enum.sort(Map.keys(mine)) -- Enum.sort(Map.keys(theirs)),
          do: "#{inspect(k)}: Linx lists it, ip does not"

    dup = if map_size(mine) == length(ours), do: [], else: ["two decoded entries share a key"]

    missing ++
      extra ++
      dup ++
      Enum.flat_map(theirs, fn {k, ip_entry} ->
        case mine[k] do
          nil -> []
          n -> compare(k, ip_entry, &expect(&1, &2, n, names))
        end
      end)
  end

  defp compare(k, ip_map, expect) do
    Enum.flat_map(Enum.sort(ip_map), fn {key, value} ->
      where = "#{inspect(k)}.#{key}"

      case expect.(key, value) do
        {:ok, ^value} ->
          []

        {:ok, expected} ->
          ["#{where}: ip #{inspect(value)}, Linx #{inspect(expected)}"]

        {:timer, ticks} when is_integer(ticks) and is_integer(value) ->
          # seconds since the event; they move between the reads
          if abs(div(ticks, @user_hz) - value) <= 2,
            do: [],
            else: ["#{where}: ip #{value} s, Linx #{ticks} ticks"]

        {:timer, other} ->
          ["#{where}: ip #{inspect(value)}, Linx #{inspect(other)}"]

        :unmapped ->
          ["#{where}: ip prints #{inspect(value)} but the test maps no Linx field"]
      end
    end)
  end

  # print_null keys: present (as null) exactly when the flag is set
  @null_flags %{
    "router" => :router,
    "proxy" => :proxy,
    "managed" => :managed,
    "extern_learn" => :extern_learn,
    "offload" => :offloaded
  }

  defp expect("dst", _, n, _), do: {:ok, Linx.IP.to_string(n.dst)}
  # printed when the entry has an ifindex (proxies for every device have none)
  defp expect("dev", _, n, names), do: {:ok, if(n.ifindex != 0, do: names[n.ifindex])}
  defp expect("lladdr", _, n, _), do: {:ok, ll(n.lladdr)}

  defp expect(key, _, n, _) when is_map_key(@null_flags, key),
    do: {:ok, if(@null_flags[key] in Neighbour.flag_names(n), do: nil, else: :flag_clear)}

  # printed only when non-zero
  defp expect("refcnt", _, n, _), do: {:ok, n.cacheinfo.refcnt}
  defp expect("used", _, n, _), do: {:timer, n.cacheinfo.used}
  defp expect("confirmed", _, n, _), do: {:timer, n.cacheinfo.confirmed}
  defp expect("updated", _, n, _), do: {:timer, n.cacheinfo.updated}
  defp expect("probes", _, n, _), do: {:ok, n.probes}

  defp expect("state", _, n, _),
    do:
      {:ok,
       n |> Neighbour.state_names() |> Enum.map(&(&1 |> Atom.to_string() |> String.upcase()))}

  # rtnl_rtprot_n2a, numeric under -N
  defp expect("protocol", _, n, _), do: {:ok, Integer.to_string(n.protocol)}

  defp expect(_key, _, _n, _), do: :unmapped

  # ll_addr_n2a: lowercase hex pairs joined by ':'
  defp ll(%Linx.MAC{} = mac), do: Linx.MAC.to_string(mac)
  defp ll(nil), do: nil
  defp ll(bin), do: bin |> :binary.bin_to_list() |> Enum.map_join(":", &hex2/1)
  defp hex2(b), do: b |> Integer.to_string(16) |> String.downcase() |> String.pad_leading(2, "0")
end
