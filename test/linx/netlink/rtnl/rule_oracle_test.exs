defmodule Linx.Netlink.Rtnl.RuleOracleTest do
  # `ip -N -j rule show` and `ip -N -6 -j rule show` are the oracles: every key they print
  # for every rule of a private netns must match what `Rule.list/2` decoded for that
  # family, and both sides must list the same rules. A key the comparison does not know
  # fails the test. -N keeps tables, protocols, TOS and IP protocols numeric, so the
  # comparison does not depend on /etc/iproute2 or /etc/protocols.
  #
  # Key names and formats: iproute2 ip/iprule.c print_rule.
  use ExUnit.Case, async: false

  @moduletag :root
  @moduletag :iproute2

  import Bitwise

  alias Linx.Netlink.{Rtnl, Socket}
  alias Linx.Netlink.Rtnl.Rule
  alias Linx.Test.Sandbox

  setup_all do
    ns = Sandbox.netns!(tag: "ruleo")

    batch = """
    rule add pref 100 from 10.0.0.0/24 lookup 100
    rule add pref 101 from 10.1.2.3 to 10.9.0.0/16 lookup 5000
    rule add pref 102 not to 192.168.0.0/16 lookup main
    rule add pref 103 tos 0x10 lookup 103
    rule add pref 104 fwmark 0x10 lookup 104
    rule add pref 105 fwmark 0x10/0xf0 lookup 105
    rule add pref 106 fwmark 0/0xff lookup 106
    rule add pref 107 iif lo oif ghost0 lookup 107
    rule add pref 108 uidrange 1000-1999 lookup 108
    rule add pref 109 ipproto tcp sport 1024-2047 dport 80 lookup 109
    rule add pref 110 ipproto udp sport 53 dport 5000-6000 lookup 110
    rule add pref 111 tun_id 42 lookup 111
    rule add pref 112 lookup main suppress_prefixlength 0
    rule add pref 113 lookup main suppress_ifgroup 3
    rule add pref 114 realms 3/7 lookup 114
    rule add pref 115 realms 9 lookup 115
    rule add pref 116 goto 118
    rule add pref 117 goto 20000
    rule add pref 118 nop
    rule add pref 119 blackhole
    rule add pref 120 unreachable
    rule add pref 121 prohibit
    rule add pref 122 from 10.5.0.0/16 lookup 122 protocol static
    rule add pref 123 to 10.6.0.0/16 lookup 123 protocol 99
    rule add pref 124 l3mdev
    rule add pref 125 iif ghost1 lookup 125
    """

    # `ip -batch` takes no per-line options: the IPv6 rules go through `ip -6 -batch`
    batch6 = """
    rule add pref 200 from fd00::/8 lookup 200
    rule add pref 201 from fd00::1 to fd01::/16 lookup 70000
    rule add pref 202 not from fd02::/16 lookup main
    rule add pref 203 fwmark 0x1 lookup 203
    rule add pref 204 ipproto ipv6-icmp lookup 204
    rule add pref 205 dport 443 sport 1000-2000 lookup 205
    rule add pref 206 tos 0x20 lookup 206
    rule add pref 207 unreachable to fd03::/16
    rule add pref 208 oif lo lookup 208 protocol boot
    rule add pref 209 uidrange 0-0 lookup 209
    """

    for {text, flags} <- [{batch, []}, {batch6, ["-6"]}] do
      path = Path.join(System.tmp_dir!(), "#{ns.name}#{Enum.join(flags)}.batch")
      File.write!(path, text)
      on_exit(fn -> File.rm(path) end)
      Sandbox.ip!(ns.name, flags ++ ["-batch", path])
    end

    %{ns: ns}
  end

  setup %{ns: ns} do
    {:ok, sock} = Rtnl.open({:path, ns.path})
    on_exit(fn -> Socket.close(sock) end)
    %{sock: sock}
  end

  for {family, flags} <- [inet: [], inet6: ["-6"]] do
    test "every key ip #{Enum.join(flags, " ")} rule prints matches Rule.list(sock, #{inspect(family)})",
         %{ns: ns, sock: sock} do
      family = unquote(family)
      ip = Sandbox.ip_json!(ns.name, ["-N" | unquote(flags)] ++ ~w(rule show))
      {:ok, rules} = Rule.list(sock, family)

      # ip prints the rules in dump order, as Linx lists them
      assert length(ip) == length(rules)
      assert Enum.map(ip, & &1["priority"]) == Enum.map(rules, &(&1.priority || 0))

      errors =
        ip
        |> Enum.zip(rules)
        |> Enum.flat_map(fn {i, r} -> compare(i["priority"], i, &expect(&1, &2, r)) end)

      assert errors == [], "ip and Linx disagree:\n  " <> Enum.join(errors, "\n  ")
      assert length(rules) > 10
    end
  end

  test "list/1 holds both families (and the multicast routing rules ip does not show)", %{
    sock: sock
  } do
    {:ok, all} = Rule.list(sock)
    {:ok, v4} = Rule.list(sock, :inet)
    {:ok, v6} = Rule.list(sock, :inet6)
    {:ok, mr} = Rule.list(sock, :ipmr)
    {:ok, mr6} = Rule.list(sock, :ip6mr)
    assert Enum.sort(all) == Enum.sort(v4 ++ v6 ++ mr ++ mr6)
    assert Enum.all?(mr, &(Rule.family_name(&1) == :ipmr))
    assert Enum.all?(mr6, &(Rule.family_name(&1) == :ip6mr))
  end

  # --- the comparison -----------------------------------------------------------------------

  defp compare(prio, ip_map, expect) do
    Enum.flat_map(Enum.sort(ip_map), fn {key, value} ->
      where = "rule #{prio}.#{key}"

      case expect.(key, value) do
        {:ok, ^value} -> []
        {:ok, expected} -> ["#{where}: ip #{inspect(value)}, Linx #{inspect(expected)}"]
        :unmapped -> ["#{where}: ip prints #{inspect(value)} but the test maps no Linx field"]
      end
    end)
  end

  # print_null keys are present (as null) exactly when their condition holds
  defp null_if(true), do: {:ok, nil}
  defp null_if(false), do: {:ok, :absent}

  defp host_len(%Rule{family: 2}), do: 32
  defp host_len(%Rule{family: 10}), do: 128

  defp expect("priority", _, r), do: {:ok, r.priority || 0}
  defp expect("not", _, r), do: null_if(:invert in Rule.flag_names(r))

  # "all" without a source; "0" for a prefix without an address
  defp expect("src", _, r) do
    cond do
      r.src -> {:ok, Linx.IP.to_string(r.src)}
      r.src_len > 0 -> {:ok, "0"}
      true -> {:ok, "all"}
    end
  end

  # printed only when the prefix is not the full host length
  defp expect("srclen", _, r), do: {:ok, if(r.src_len != host_len(r), do: r.src_len)}

  defp expect("dst", _, r),
    do: {:ok, if(r.dst, do: Linx.IP.to_string(r.dst), else: "0")}

  defp expect("dstlen", _, r), do: {:ok, if(r.dst_len != host_len(r), do: r.dst_len)}
  # rtnl_dsfield_n2a under -N: "0x%02x"
  defp expect("tos", _, r), do: {:ok, "0x" <> hex2(r.tos)}
  defp expect("fwmark", _, r), do: {:ok, ip_hex(r.fwmark || 0)}
  # printed only when the mask is not all ones
  defp expect("fwmask", _, r), do: {:ok, if(r.fwmask != 0xFFFFFFFF, do: ip_hex(r.fwmask))}
  defp expect("iif", _, r), do: {:ok, r.iifname}
  defp expect("oif", _, r), do: {:ok, r.oifname}
  defp expect("iif_detached", _, r), do: null_if(:iif_detached in Rule.flag_names(r))
  defp expect("oif_detached", _, r), do: null_if(:oif_detached in Rule.flag_names(r))
  defp expect("l3mdev", _, r), do: null_if(r.l3mdev == 1)
  defp expect("uid_start", _, r), do: {:ok, r.uid_range.first}
  defp expect("uid_end", _, r), do: {:ok, r.uid_range.last}
  # inet_proto_n2a under -N
  defp expect("ipproto", _, r), do: {:ok, "ipproto-#{r.ip_proto}"}
  defp expect("sport", _, r), do: single(r.sport_range)
  defp expect("sport_start", _, r), do: {:ok, r.sport_range.first}
  defp expect("sport_end", _, r), do: {:ok, r.sport_range.last}
  defp expect("dport", _, r), do: single(r.dport_range)
  defp expect("dport_start", _, r), do: {:ok, r.dport_range.first}
  defp expect("dport_end", _, r), do: {:ok, r.dport_range.last}
  defp expect("tun_id", _, r), do: {:ok, r.tun_id}
  defp expect("table", _, r), do: {:ok, Integer.to_string(Rule.target_table(r))}
  defp expect("suppress_prefixlen", _, r), do: {:ok, r.suppress_prefixlen}
  # rtnl_group_n2a: group 0 is "default" (/etc/iproute2/group), others as numbers
  defp expect("suppress_ifgroup", _, r), do: {:ok, Integer.to_string(r.suppress_ifgroup)}
  # FRA_FLOW: the source realm in the high 16 bits, the destination in the low ones
  defp expect("flow_from", _, r), do: {:ok, Integer.to_string(r.flow >>> 16)}
  defp expect("flow_to", _, r), do: {:ok, Integer.to_string(r.flow &&& 0xFFFF)}
  defp expect("goto", _, r), do: {:ok, r.goto}
  defp expect("unresolved", _, r), do: null_if(:unresolved in Rule.flag_names(r))
  defp expect("nop", _, r), do: null_if(Rule.action_name(r) == :nop)
  # rtnl_rtntype_n2a under -N: the FR_ACT_* number
  defp expect("action", _, r), do: {:ok, Integer.to_string(r.action)}
  # printed when neither 0 nor RTPROT_KERNEL
  defp expect("protocol", _, r), do: {:ok, Integer.to_string(r.protocol)}
  defp expect(_key, _, _r), do: :unmapped

  defp single(a..a//_), do: {:ok, a}
  defp single(other), do: {:ok, other}

  defp hex2(n), do: n |> Integer.to_string(16) |> String.downcase() |> String.pad_leading(2, "0")

  # print_0xhex: "%#llx", so 0 has no 0x prefix
  defp ip_hex(0), do: "0"
  defp ip_hex(n), do: "0x" <> String.downcase(Integer.to_string(n, 16))
end
