defmodule Linx.Netlink.Rtnl.NexthopOracleTest do
  # `ip -d -j nexthop show` is the oracle: every key it prints for every nexthop object
  # of a private netns must match what `Nexthop.list/2` decoded; a key the comparison
  # does not know fails the test. The objects cover IPv4/IPv6 gateways, device-only,
  # blackhole, onlink with a protocol, multipath and resilient groups with weights and
  # timers, FDB nexthops and groups. (A nexthop whose link loses its carrier is removed
  # by the kernel, so no linkdown flag can be shown here; route_oracle_test has one.)
  #
  # Key names: iproute2 6.1 ip/ipnexthop.c (print_nexthop, print_nh_group,
  # print_nh_res_group) and ip/iproute.c (print_rt_flags).
  #
  # Not async: see link_oracle_test.exs.
  use ExUnit.Case, async: false

  @moduletag :root
  @moduletag :iproute2

  alias Linx.Netlink.{Rtnl, Socket}
  alias Linx.Netlink.Rtnl.{Link, Nexthop, Route}
  alias Linx.Test.Sandbox

  @batch """
  link add v0 type veth peer name v1
  link set v0 up
  link set v1 up
  link add v2 type veth peer name v3
  link set v2 up
  link set v3 up
  addr add 10.0.0.1/24 dev v0
  addr add 10.0.2.1/24 dev v2
  addr add 2001:db8::1/64 dev v0 nodad
  link add br0 type bridge
  nexthop add id 1 via 10.0.0.2 dev v0
  nexthop add id 2 via 10.0.0.3 dev v0 proto static
  nexthop add id 3 via 2001:db8::3 dev v0
  nexthop add id 4 via fe80::4 dev v0
  nexthop add id 5 dev v0
  nexthop add id 6 blackhole
  nexthop add id 7 via 10.9.9.9 dev v0 onlink proto bird
  nexthop add id 8 via 10.0.2.8 dev v2
  nexthop add id 10 group 1/2,5
  nexthop add id 11 group 1,3/2,200
  nexthop add id 12 group 1/2 type resilient buckets 16 idle_timer 7 unbalanced_timer 9
  nexthop add id 13 group 3/4 type resilient buckets 4
  nexthop add id 20 via 10.0.0.50 fdb
  nexthop add id 21 via 2001:db8::51 fdb
  nexthop add id 22 group 20 fdb
  """

  setup_all do
    ns = Sandbox.netns!(tag: "nhoracle")
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
    %{sock: sock, names: Map.new(links, &{&1.index, &1.name})}
  end

  test "every key ip prints for every nexthop matches Nexthop.list/2", %{
    ns: ns,
    sock: sock,
    names: names
  } do
    ip_nhs = Sandbox.ip_json!(ns.name, ~w(-d nexthop show))
    {:ok, nhs} = Nexthop.list(sock)

    assert Enum.map(ip_nhs, & &1["id"]) == Enum.map(nhs, & &1.id)
    by_id = Map.new(nhs, &{&1.id, &1})

    errors =
      Enum.flat_map(ip_nhs, fn ip ->
        compare("id #{ip["id"]}", ip, &nexthop(&1, &2, Map.fetch!(by_id, ip["id"]), names))
      end)

    assert errors == [], "ip and Linx disagree:\n  " <> Enum.join(errors, "\n  ")

    # the set-up built what the comparison walked through
    seen = ip_nhs |> Enum.flat_map(&Map.keys/1) |> MapSet.new()

    assert MapSet.subset?(
             MapSet.new(~w(gateway dev blackhole group type resilient_args fdb protocol)),
             seen
           )

    assert Enum.any?(ip_nhs, &("onlink" in &1["flags"]))
  end

  test "the filtered dumps agree with ip's", %{ns: ns, sock: sock} do
    for {ip_args, opts} <- [
          {~w(dev v0), [dev: "v0"]},
          {~w(groups), [groups: true]},
          {~w(-6), [family: :inet6]},
          {~w(-4), [family: :inet]}
        ] do
      args =
        if ip_args in [~w(-6), ~w(-4)],
          do: ip_args ++ ~w(nexthop show),
          else: ~w(nexthop show) ++ ip_args

      ip_ids = Sandbox.ip_json!(ns.name, args) |> Enum.map(& &1["id"])
      {:ok, nhs} = Nexthop.list(sock, opts)
      assert Enum.map(nhs, & &1.id) == ip_ids, inspect(opts)
    end

    # ip 6.1 prints every nexthop for `show fdb` (the kernel ignores an fdb-only filter);
    # Linx checks the flag itself
    {:ok, fdb} = Nexthop.list(sock, fdb: true)
    assert Enum.map(fdb, & &1.id) == [20, 21, 22]
  end

  defp compare(path, ip_map, expect) do
    Enum.flat_map(Enum.sort(ip_map), fn {key, value} ->
      where = "#{path}.#{key}"

      case expect.(key, value) do
        {:ok, ^value} -> []
        {:ok, other} -> ["#{where}: ip #{inspect(value)}, Linx #{inspect(other)}"]
        {:errors, errors} -> errors
        :unmapped -> ["#{where}: ip prints #{inspect(value)} but the test maps no Linx field"]
      end
    end)
  end

  # print_nexthop
  defp nexthop("id", _, nh, _), do: {:ok, nh.id}
  defp nexthop("gateway", _, nh, _), do: {:ok, to_string(nh.gateway)}
  defp nexthop("dev", _, nh, names), do: {:ok, names[nh.oif]}
  # flags print as a key with no value
  defp nexthop("blackhole", _, nh, _), do: {:ok, if(nh.blackhole, do: nil, else: :absent)}
  defp nexthop("fdb", _, nh, _), do: {:ok, if(nh.fdb, do: nil, else: :absent)}
  defp nexthop("type", _, nh, _), do: {:ok, to_string(Nexthop.group_type_name(nh))}
  defp nexthop("flags", _, nh, _), do: {:ok, Enum.map(Nexthop.flag_names(nh), &Atom.to_string/1)}

  defp nexthop("scope", _, nh, _) do
    {:ok,
     case Route.scope_name(%Route{scope: nh.scope}) do
       :universe -> "global"
       name when is_atom(name) -> Atom.to_string(name)
       n -> Integer.to_string(n)
     end}
  end

  defp nexthop("protocol", _, nh, _) do
    {:ok,
     case Route.protocol_name(%Route{protocol: nh.protocol}) do
       name when is_atom(name) -> Atom.to_string(name)
       n -> Integer.to_string(n)
     end}
  end

  # print_nh_group: a weight of 1 is not printed
  defp nexthop("group", _, nh, _) do
    {:ok,
     Enum.map(nh.group, fn
       {id, 1} -> %{"id" => id}
       {id, w} -> %{"id" => id, "weight" => w}
     end)}
  end

  # print_nh_res_group: the timers are clock ticks (USER_HZ 100), printed in seconds
  defp nexthop("resilient_args", ip, nh, _) do
    rg = nh.res_group

    {:errors,
     compare("id #{nh.id}.resilient_args", ip, fn
       "buckets", _ -> {:ok, rg.buckets}
       "idle_timer", _ -> {:ok, div(rg.idle_timer, 100)}
       "unbalanced_timer", _ -> {:ok, div(rg.unbalanced_timer, 100)}
       "unbalanced_time", _ -> {:ok, div(rg.unbalanced_time, 100)}
       _, _ -> :unmapped
     end)}
  end

  defp nexthop(_key, _value, _nh, _names), do: :unmapped
end
