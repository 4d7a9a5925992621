defmodule Linx.Netlink.Rtnl.Rule.UidRange do
  @moduledoc false
  # `struct fib_rule_uid_range` (/usr/include/linux/fib_rules.h): two u32, as a Range.

  @spec decode(binary()) :: Range.t() | nil
  def decode(<<first::native-32, last::native-32>>), do: Range.new(first, last, 1)
  def decode(_), do: nil

  @spec encode(Range.t()) :: binary()
  def encode(first..last//_), do: <<first::native-32, last::native-32>>
end

defmodule Linx.Netlink.Rtnl.Rule.PortRange do
  @moduledoc false
  # `struct fib_rule_port_range` (/usr/include/linux/fib_rules.h): two u16, as a Range.

  @spec decode(binary()) :: Range.t() | nil
  def decode(<<first::native-16, last::native-16>>), do: Range.new(first, last, 1)
  def decode(_), do: nil

  @spec encode(Range.t()) :: binary()
  def encode(first..last//_), do: <<first::native-16, last::native-16>>
end

defmodule Linx.Netlink.Rtnl.Rule do
  @moduledoc """
  Policy-routing rules: `RTM_NEWRULE`/`RTM_DELRULE`/`RTM_GETRULE` messages (`struct
  fib_rule_hdr` plus `FRA_*` attributes, `/usr/include/linux/fib_rules.h`), as
  `ip rule` and `ip -6 rule` show and change them.

      {:ok, sock} = Linx.Netlink.Rtnl.open()
      :ok = Linx.Netlink.Rtnl.Rule.add(sock, priority: 100, from: "10.0.0.0/24", table: 100)
      :ok = Linx.Netlink.Rtnl.Rule.add(sock, family: :inet6, fwmark: 0x1, table: 200)
      {:ok, rules} = Linx.Netlink.Rtnl.Rule.list(sock)
      :ok = Linx.Netlink.Rtnl.Rule.delete(sock, priority: 100)

  `add/2` and `delete/2` take the rule as a keyword list of selectors and an action
  (see `t:opts/0`). Kernel failures are `{:error, %Linx.Netlink.Error{}}` naming the
  operation and the selectors; caller mistakes (a prefix out of range, a family
  mismatch, an unknown option) raise `ArgumentError` naming the value.

  ## Fields

  Header: `family` (2 or 10), `dst_len`, `src_len`, `tos`, `table` (the 8-bit table id;
  0 when the table needs `table_ext`), `res1`, `res2`, `action` (`FR_ACT_*`, see
  `action_name/1`), `flags` (`FIB_RULE_*`: invert, unresolved, detached). Attributes:
  `dst`, `src`, `iifname`, `oifname`, `goto`, `priority`, `fwmark`, `fwmask`, `flow`,
  `tun_id`, `suppress_ifgroup`, `suppress_prefixlen` (both -1 when unset), `table_ext`
  (`FRA_TABLE`, the full table id; see `target_table/1`), `l3mdev`, `uid_range` and
  `sport_range`/`dport_range` (Elixir ranges), `protocol`, `ip_proto`.
  """

  use Linx.Netlink.Codec

  import Bitwise
  import Linx.Netlink.Constants
  import Linx.Netlink.Request, only: [is_transport: 1]

  alias Linx.IP
  alias Linx.IP.Subnet
  alias Linx.Netlink.{Error, Message, Request}
  alias Linx.Netlink.Rtnl.Link

  # /usr/include/linux/rtnetlink.h
  @rtm_newrule 32
  @rtm_delrule 33
  @rtm_getrule 34

  # /usr/include/x86_64-linux-gnu/bits/socket.h, and RTNL_FAMILY_* from rtnetlink.h (the
  # multicast routing rule sets, which an AF_UNSPEC dump includes)
  @af_inet 2
  @af_inet6 10
  @rtnl_family_ipmr 128
  @rtnl_family_ip6mr 129

  codec do
    header do
      field :family, :u8
      field :dst_len, :u8
      field :src_len, :u8
      field :tos, :u8
      field :table, :u8
      field :res1, :u8
      field :res2, :u8
      field :action, :u8
      field :flags, :u32
    end

    # /usr/include/linux/fib_rules.h, enum FRA_*
    attr 1, :dst, Linx.IP
    attr 2, :src, Linx.IP
    attr 3, :iifname, :string
    attr 4, :goto, :u32
    attr 6, :priority, :u32
    attr 10, :fwmark, :u32
    attr 11, :flow, :u32
    attr 12, :tun_id, :be64
    attr 13, :suppress_ifgroup, :s32
    attr 14, :suppress_prefixlen, :s32
    attr 15, :table_ext, :u32
    attr 16, :fwmask, :u32
    attr 17, :oifname, :string
    attr 19, :l3mdev, :u8
    attr 20, :uid_range, Linx.Netlink.Rtnl.Rule.UidRange
    attr 21, :protocol, :u8
    attr 22, :ip_proto, :u8
    attr 23, :sport_range, Linx.Netlink.Rtnl.Rule.PortRange
    attr 24, :dport_range, Linx.Netlink.Rtnl.Rule.PortRange
  end

  # /usr/include/linux/fib_rules.h, enum FR_ACT_*
  @actions [to_tbl: 1, goto: 2, nop: 3, blackhole: 6, unreachable: 7, prohibit: 8]

  # /usr/include/linux/fib_rules.h, FIB_RULE_*
  @fib_rule_invert 0x02
  @rule_flags [
    permanent: 0x01,
    invert: 0x02,
    unresolved: 0x04,
    iif_detached: 0x08,
    oif_detached: 0x10,
    find_saddr: 0x10000
  ]

  # /usr/include/linux/rtnetlink.h, enum rt_class_t
  @tables [default: 253, main: 254, local: 255]

  # /usr/include/linux/rtnetlink.h, RTPROT_*
  @protocols [
    unspec: 0,
    redirect: 1,
    kernel: 2,
    boot: 3,
    static: 4,
    ra: 9,
    zebra: 11,
    bird: 12,
    dhcp: 16,
    keepalived: 18,
    babel: 42,
    bgp: 186,
    isis: 187,
    ospf: 188,
    rip: 189
  ]

  # /usr/include/linux/in.h IPPROTO_* (and in6.h for IPPROTO_ICMPV6)
  @ip_protos [
    icmp: 1,
    igmp: 2,
    tcp: 6,
    udp: 17,
    dccp: 33,
    gre: 47,
    esp: 50,
    ah: 51,
    icmpv6: 58,
    sctp: 132,
    udplite: 136
  ]

  @opts [
    :table,
    :from,
    :to,
    :family,
    :priority,
    :fwmark,
    :fwmask,
    :iif,
    :oif,
    :uid_range,
    :ip_proto,
    :sport,
    :dport,
    :tos,
    :action,
    :goto,
    :suppress_prefixlength,
    :suppress_ifgroup,
    :invert,
    :protocol,
    :l3mdev,
    :tun_id,
    :flow
  ]

  @typedoc "A selector address: a CIDR string, a `Linx.IP.Subnet` or a `Linx.IP` (a host)."
  @type selector :: String.t() | Subnet.t() | IP.t()

  @typedoc """
  The rule, for `add/2` and `delete/2` (every key optional unless noted):

    * `:table` — the table to look up: 1..4294967295 or `:main`, `:local`, `:default`;
      **required** by `add/2` for the default `:to_tbl` action;
    * `:action` — `:to_tbl` (default), `:goto`, `:nop`, `:blackhole`, `:unreachable`,
      `:prohibit`;
    * `:goto` — the priority of the rule to jump to (implies `action: :goto`);
    * `:from`, `:to` — source and destination selectors (`t:selector/0`; a string
      without `/` or an `%IP{}` is a host);
    * `:family` — `:inet` or `:inet6`; taken from `:from`/`:to` when they are given,
      else IPv4. Needed for IPv6 rules without addresses (`family: :inet6, fwmark: 1`);
    * `:priority` — 0..4294967295 (`ip rule ... pref N`);
    * `:fwmark`, `:fwmask` — the packet mark and the mask it is compared under;
    * `:iif`, `:oif` — input and output interfaces, by name or ifindex (the kernel
      matches rules by name, so an ifindex is turned into the name first; the name
      need not exist yet when given as a string);
    * `:uid_range` — a uid or a range of uids (`1000..1999`);
    * `:ip_proto` — 0..255 or `:tcp`, `:udp`, `:icmp`, `:icmpv6`, `:sctp`, ...;
    * `:sport`, `:dport` — a port or a range of ports (`1024..2047`);
    * `:tos` — the TOS/DSCP byte, 0..255;
    * `:suppress_prefixlength` — ignore lookup results with a prefix this long or
      shorter; `:suppress_ifgroup` — ignore results through this interface group;
    * `:invert` — `true` to match what the selectors do not (`ip rule add not ...`);
    * `:protocol` — who installed the rule: 0..255 or `:static`, `:boot`, ...;
    * `:l3mdev` — `true` to look up the table of the VRF (L3 master) device;
    * `:tun_id` — the tunnel id (u64); `:flow` — the realm (IPv4).

  `delete/2` removes the first rule that matches every given key; the action is matched
  only when `:action` (or `:goto`) is given.
  """
  @type opts :: [
          table: pos_integer() | :main | :local | :default,
          action: :to_tbl | :goto | :nop | :blackhole | :unreachable | :prohibit,
          goto: non_neg_integer(),
          from: selector(),
          to: selector(),
          family: :inet | :inet6,
          priority: non_neg_integer(),
          fwmark: non_neg_integer(),
          fwmask: non_neg_integer(),
          iif: String.t() | pos_integer(),
          oif: String.t() | pos_integer(),
          uid_range: non_neg_integer() | Range.t(),
          ip_proto: atom() | 0..255,
          sport: 0..65535 | Range.t(),
          dport: 0..65535 | Range.t(),
          tos: 0..255,
          suppress_prefixlength: 0..128,
          suppress_ifgroup: non_neg_integer(),
          invert: boolean(),
          protocol: atom() | 0..255,
          l3mdev: boolean(),
          tun_id: non_neg_integer(),
          flow: non_neg_integer()
        ]

  @typedoc "A rule family: IPv4, IPv6, or the IPv4/IPv6 multicast routing rules."
  @type family :: :inet | :inet6 | :ipmr | :ip6mr

  @typedoc "Something the verbs accept as their first argument (a socket or a connection)."
  @type transport :: Linx.Netlink.Request.transport()

  # --- reading ---------------------------------------------------------------------------

  @doc """
  Every rule in the socket's netns (`RTM_GETRULE` dump with `AF_UNSPEC`): the IPv4 and
  IPv6 rules that `ip rule show` and `ip -6 rule show` print, and the rules of the
  IPv4/IPv6 multicast routing tables (families 128 and 129, `RTNL_FAMILY_IPMR` and
  `RTNL_FAMILY_IP6MR`), in the kernel's order (by family, then priority).
  Unprivileged.
  """
  @spec list(transport()) :: {:ok, [t()]} | {:error, Error.t()}
  def list(sock) when is_transport(sock), do: list(sock, [])

  @doc """
  The rules of one family: `list(sock, family: :inet6)` (or `list(sock, :inet6)`);
  the family is `:inet`, `:inet6`, `:ipmr` or `:ip6mr`.
  """
  @spec list(transport(), [family: family()] | family()) :: {:ok, [t()]} | {:error, Error.t()}
  def list(sock, family) when is_transport(sock) and is_atom(family),
    do: list(sock, family: family)

  def list(sock, opts) when is_transport(sock) and is_list(opts) do
    family =
      Enum.reduce(opts, 0, fn
        {:family, :inet}, _ -> @af_inet
        {:family, :inet6}, _ -> @af_inet6
        {:family, :ipmr}, _ -> @rtnl_family_ipmr
        {:family, :ip6mr}, _ -> @rtnl_family_ip6mr
        other, _ -> raise ArgumentError, "invalid option for Rule.list/2: #{inspect(other)}"
      end)

    Request.fold(
      sock,
      @rtm_getrule,
      nlm_f_dump(),
      encode(%__MODULE__{family: family}),
      [],
      fn msg, acc ->
        case decode_message(msg) do
          %__MODULE__{} = r -> [r | acc]
          nil -> acc
        end
      end,
      operation: :list_rules,
      object: sock.netns
    )
    |> case do
      {:ok, rules} -> {:ok, Enum.reverse(rules)}
      error -> error
    end
  end

  def list(_sock, other),
    do: raise(ArgumentError, "invalid argument for Rule.list/2: #{inspect(other)}")

  # --- writing ---------------------------------------------------------------------------

  @doc """
  Adds a rule (`RTM_NEWRULE` with `NLM_F_CREATE | NLM_F_EXCL`, like `ip rule add`).
  See `t:opts/0`. The same rule twice is `{:error, %Linx.Netlink.Error{errno:
  :eexist}}`.

      Rule.add(sock, priority: 100, from: "10.0.0.0/24", table: 100)
      Rule.add(sock, priority: 110, iif: "eth1", ip_proto: :tcp, dport: 80..89, table: :main)
      Rule.add(sock, priority: 120, to: ~IP"fd00::/8", action: :unreachable)
      Rule.add(sock, priority: 130, fwmark: 0x10, fwmask: 0xF0, goto: 200)
  """
  @spec add(transport(), opts()) :: :ok | {:error, Error.t()}
  def add(sock, opts) when is_transport(sock) and is_list(opts) do
    with {:ok, named} <- name_links(sock, opts, :add, :add_rule) do
      sock
      |> Request.talk(
        @rtm_newrule,
        nlm_f_create() ||| nlm_f_excl() ||| nlm_f_ack(),
        encode(build(named, :add)),
        operation: :add_rule,
        object: opts
      )
      |> ack()
    end
  end

  @doc """
  Deletes the first rule matching every given selector (`RTM_DELRULE`, like
  `ip rule del`); `delete(sock, priority: 100)` removes the rule at priority 100. No
  match is `{:error, %Linx.Netlink.Error{errno: :enoent}}`.
  """
  @spec delete(transport(), opts()) :: :ok | {:error, Error.t()}
  def delete(sock, opts) when is_transport(sock) and is_list(opts) do
    with {:ok, named} <- name_links(sock, opts, :delete, :delete_rule) do
      sock
      |> Request.talk(@rtm_delrule, nlm_f_ack(), encode(build(named, :delete)),
        operation: :delete_rule,
        object: opts
      )
      |> ack()
    end
  end

  # The kernel keeps and matches rule interfaces by name (FRA_IIFNAME/FRA_OIFNAME), so an
  # ifindex given for :iif/:oif is turned into the link's name (one RTM_GETLINK each).
  # Everything is validated first, so a bad option raises before any round trip.
  defp name_links(sock, opts, mode, op) do
    _ = build(Enum.map(opts, &placeholder_name/1), mode)

    opts
    |> Enum.reduce_while({:ok, []}, fn
      {key, index}, {:ok, acc} when key in [:iif, :oif] and is_integer(index) ->
        case Link.get(sock, index) do
          {:ok, %Link{name: name}} -> {:cont, {:ok, [{key, name} | acc]}}
          {:error, %Error{} = e} -> {:halt, {:error, %{e | operation: op, object: opts}}}
        end

      opt, {:ok, acc} ->
        {:cont, {:ok, [opt | acc]}}
    end)
    |> case do
      {:ok, named} -> {:ok, Enum.reverse(named)}
      error -> error
    end
  end

  defp placeholder_name({key, index}) when key in [:iif, :oif] and is_integer(index) do
    if index > 0 and index <= 0x7FFFFFFF,
      do: {key, "ifindex"},
      else: raise(ArgumentError, "invalid rule #{inspect(key)} #{index}: not a valid ifindex")
  end

  defp placeholder_name(opt), do: opt

  @doc """
  The table a rule looks up: `table_ext` when present and non-zero, else the header's
  `table`.

      iex> Linx.Netlink.Rtnl.Rule.target_table(%Linx.Netlink.Rtnl.Rule{table: 0, table_ext: 1000})
      1000
      iex> Linx.Netlink.Rtnl.Rule.target_table(%Linx.Netlink.Rtnl.Rule{table: 254})
      254
  """
  @spec target_table(t()) :: non_neg_integer()
  def target_table(%__MODULE__{table_ext: ext}) when is_integer(ext) and ext > 0, do: ext
  def target_table(%__MODULE__{table: table}) when is_integer(table), do: table
  def target_table(%__MODULE__{}), do: 0

  @doc """
  The action as an atom (`:to_tbl`, `:goto`, `:nop`, `:blackhole`, `:unreachable`,
  `:prohibit`), or the number of another value.

      iex> Linx.Netlink.Rtnl.Rule.action_name(%Linx.Netlink.Rtnl.Rule{action: 7})
      :unreachable
  """
  @spec action_name(t()) :: atom() | non_neg_integer() | nil
  def action_name(%__MODULE__{action: a}) do
    case List.keyfind(@actions, a, 1) do
      {name, _} -> name
      nil -> a
    end
  end

  @doc """
  The `FIB_RULE_*` flags as atoms (`:invert`, `:unresolved`, `:iif_detached`, ...).

      iex> Linx.Netlink.Rtnl.Rule.flag_names(%Linx.Netlink.Rtnl.Rule{flags: 0x2})
      [:invert]
  """
  @spec flag_names(t()) :: [atom()]
  def flag_names(%__MODULE__{flags: flags}) when is_integer(flags),
    do: for({name, bit} <- @rule_flags, (flags &&& bit) != 0, do: name)

  def flag_names(%__MODULE__{}), do: []

  @doc "The family as `:inet`, `:inet6`, `:ipmr` or `:ip6mr` (or the number of another)."
  @spec family_name(t()) :: family() | non_neg_integer() | nil
  def family_name(%__MODULE__{family: @af_inet}), do: :inet
  def family_name(%__MODULE__{family: @af_inet6}), do: :inet6
  def family_name(%__MODULE__{family: @rtnl_family_ipmr}), do: :ipmr
  def family_name(%__MODULE__{family: @rtnl_family_ip6mr}), do: :ip6mr
  def family_name(%__MODULE__{family: f}), do: f

  @doc false
  # A reply or event message to a rule, or nil when it is not a rule message.
  @spec decode_message(Message.t()) :: t() | nil
  def decode_message(%Message{type: type, payload: payload})
      when type in [@rtm_newrule, @rtm_delrule],
      do: decode(payload)

  def decode_message(_), do: nil

  # --- the builder -----------------------------------------------------------------------

  @doc false
  # The fib_rule_hdr + FRA_* body for `opts`; `mode` is :add (the action defaults to
  # FR_ACT_TO_TBL and needs a table) or :delete (only what is given is matched). Raises
  # ArgumentError for bad input. Pure (used by add/delete and the golden-byte tests).
  @spec build(opts(), :add | :delete) :: t()
  def build(opts, mode) when is_list(opts) and mode in [:add, :delete] do
    for opt <- opts do
      case opt do
        {key, _} when key in @opts -> :ok
        other -> raise ArgumentError, "invalid rule option #{inspect(other)}"
      end
    end

    from = selector!(opts, :from)
    to = selector!(opts, :to)
    family = family!(opts, from, to)

    goto = opt_int!(opts, :goto, 0xFFFFFFFF)
    action = action!(opts, goto, mode)
    table = table!(opts, action, mode)

    %__MODULE__{
      family: if(family == :inet, do: @af_inet, else: @af_inet6),
      src_len: if(from, do: elem(from, 1), else: 0),
      dst_len: if(to, do: elem(to, 1), else: 0),
      tos: opt_int!(opts, :tos, 255) || 0,
      table: if(table != nil and table <= 255, do: table, else: 0),
      action: action,
      flags: if(bool!(opts, :invert), do: @fib_rule_invert, else: 0),
      # a /0 selector matches everything: the kernel keeps no address for it
      src: if(from && elem(from, 1) > 0, do: elem(from, 0)),
      dst: if(to && elem(to, 1) > 0, do: elem(to, 0)),
      # FRA_TABLE carries ids that do not fit the header byte (iproute2 sends it always
      # for those and only for those).
      table_ext: if(table != nil and table > 255, do: table),
      priority: opt_int!(opts, :priority, 0xFFFFFFFF),
      fwmark: opt_int!(opts, :fwmark, 0xFFFFFFFF),
      fwmask: opt_int!(opts, :fwmask, 0xFFFFFFFF),
      iifname: ifname!(opts, :iif),
      oifname: ifname!(opts, :oif),
      goto: goto,
      uid_range: range!(opts, :uid_range, 0xFFFFFFFF),
      ip_proto: ip_proto!(opts),
      sport_range: range!(opts, :sport, 0xFFFF),
      dport_range: range!(opts, :dport, 0xFFFF),
      suppress_prefixlen: suppress_prefixlen!(opts, family),
      suppress_ifgroup: opt_int!(opts, :suppress_ifgroup, 0x7FFFFFFF),
      protocol: protocol!(opts),
      l3mdev: if(bool!(opts, :l3mdev), do: 1),
      tun_id: opt_int!(opts, :tun_id, 0xFFFFFFFFFFFFFFFF),
      flow: opt_int!(opts, :flow, 0xFFFFFFFF)
    }
  end

  # {address, prefix} or nil
  defp selector!(opts, key) do
    case Keyword.get(opts, key) do
      nil ->
        nil

      %Subnet{address: %IP{} = ip, prefix: p} = subnet ->
        check_ip!(ip, key, subnet)
        check_prefix!(ip, p, key, subnet)
        {ip, p}

      %IP{} = ip ->
        check_ip!(ip, key, ip)
        {ip, max_prefix(ip)}

      text when is_binary(text) ->
        parse_selector!(text, key)

      other ->
        raise ArgumentError,
              "invalid #{inspect(key)} selector #{inspect(other)}: expected a CIDR string, a %Linx.IP.Subnet{} or a %Linx.IP{}"
    end
  end

  defp parse_selector!(text, key) do
    {addr, prefix} =
      case :binary.split(text, "/") do
        [addr] -> {addr, nil}
        [addr, prefix] -> {addr, prefix}
      end

    ip =
      case IP.parse(addr) do
        {:ok, %IP{zone: nil} = ip} ->
          ip

        _ ->
          raise ArgumentError,
                "invalid #{inspect(key)} selector #{inspect(text)}: #{inspect(addr)} is not an IPv4 or IPv6 address"
      end

    case prefix do
      nil ->
        {ip, max_prefix(ip)}

      digits ->
        # plain decimal digits only: no sign, no spaces
        if digits =~ ~r/\A[0-9]{1,3}\z/ do
          p = String.to_integer(digits)
          check_prefix!(ip, p, key, text)
          {ip, p}
        else
          raise ArgumentError,
                "invalid #{inspect(key)} selector #{inspect(text)}: the prefix length is not a number"
        end
    end
  end

  defp check_ip!(%IP{zone: nil, bytes: b}, _key, _shown) when byte_size(b) in [4, 16], do: :ok

  defp check_ip!(_ip, key, shown),
    do: raise(ArgumentError, "invalid #{inspect(key)} selector #{inspect(shown)}")

  defp check_prefix!(ip, p, key, shown) do
    max = max_prefix(ip)

    unless is_integer(p) and p in 0..max do
      raise ArgumentError,
            "invalid #{inspect(key)} selector #{inspect(shown)}: prefix length #{inspect(p)} is not in 0..#{max}"
    end
  end

  defp max_prefix(%IP{family: :inet}), do: 32
  defp max_prefix(%IP{family: :inet6}), do: 128

  defp family!(opts, from, to) do
    given =
      case Keyword.get(opts, :family) do
        nil ->
          nil

        f when f in [:inet, :inet6] ->
          f

        other ->
          raise ArgumentError, "invalid rule family #{inspect(other)}: expected :inet or :inet6"
      end

    seen =
      for({key, {%IP{family: f}, _}} <- [from: from, to: to], do: {key, f})
      |> then(&if(given, do: [{:family, given} | &1], else: &1))

    case Enum.uniq_by(seen, &elem(&1, 1)) do
      [] ->
        :inet

      [{_, f}] ->
        f

      mixed ->
        raise ArgumentError,
              "rule selectors of different families: #{Enum.map_join(mixed, ", ", fn {k, f} -> "#{k} is #{f}" end)} (#{inspect(Keyword.take(opts, [:from, :to, :family]))})"
    end
  end

  defp action!(opts, goto, mode) do
    case Keyword.get(opts, :action) do
      nil when goto != nil ->
        Keyword.fetch!(@actions, :goto)

      nil ->
        if mode == :add, do: Keyword.fetch!(@actions, :to_tbl), else: 0

      :goto when goto == nil ->
        raise ArgumentError, "action :goto needs the :goto option (the target priority)"

      name when is_atom(name) and goto != nil and name != :goto ->
        raise ArgumentError,
              "the :goto option conflicts with action #{inspect(name)}"

      name when is_atom(name) ->
        Keyword.get(@actions, name) ||
          raise ArgumentError,
                "invalid rule action #{inspect(name)}: expected one of #{inspect(Keyword.keys(@actions))}"

      other ->
        raise ArgumentError, "invalid rule action #{inspect(other)}"
    end
  end

  defp table!(opts, action, mode) do
    table =
      case Keyword.get(opts, :table) do
        nil ->
          nil

        t when is_integer(t) and t in 1..0xFFFFFFFF ->
          t

        t when is_atom(t) and is_map_key(%{main: 1, local: 1, default: 1}, t) ->
          Keyword.fetch!(@tables, t)

        other ->
          raise ArgumentError,
                "invalid rule table #{inspect(other)}: expected 1..4294967295, :main, :local or :default"
      end

    # l3mdev rules find their table through the device, so they take none.
    if mode == :add and table == nil and action == Keyword.fetch!(@actions, :to_tbl) and
         not bool!(opts, :l3mdev) do
      raise ArgumentError,
            "a rule with the :to_tbl action needs a :table (got #{inspect(opts)})"
    end

    table
  end

  defp opt_int!(opts, key, max) do
    case Keyword.get(opts, key) do
      nil ->
        nil

      n when is_integer(n) and n >= 0 and n <= max ->
        n

      other ->
        raise ArgumentError, "invalid rule #{inspect(key)} #{inspect(other)}: expected 0..#{max}"
    end
  end

  defp bool!(opts, key) do
    case Keyword.get(opts, key, false) do
      b when is_boolean(b) ->
        b

      other ->
        raise ArgumentError, "invalid rule #{inspect(key)} #{inspect(other)}: expected a boolean"
    end
  end

  defp ifname!(opts, key) do
    case Keyword.get(opts, key) do
      nil ->
        nil

      name when is_binary(name) ->
        Link.validate_name!(name)

      other ->
        raise ArgumentError,
              "invalid rule #{inspect(key)} #{inspect(other)}: expected an interface name"
    end
  end

  defp range!(opts, key, max) do
    case Keyword.get(opts, key) do
      nil ->
        nil

      n when is_integer(n) and n >= 0 and n <= max ->
        Range.new(n, n, 1)

      first..last//1 = r when first >= 0 and last <= max and first <= last ->
        r

      other ->
        raise ArgumentError,
              "invalid rule #{inspect(key)} #{inspect(other)}: expected an integer or an ascending range within 0..#{max}"
    end
  end

  defp ip_proto!(opts) do
    case Keyword.get(opts, :ip_proto) do
      nil ->
        nil

      n when is_integer(n) and n in 0..255 ->
        n

      name when is_atom(name) ->
        Keyword.get(@ip_protos, name) ||
          raise ArgumentError,
                "invalid rule :ip_proto #{inspect(name)}: expected 0..255 or one of #{inspect(Keyword.keys(@ip_protos))}"

      other ->
        raise ArgumentError, "invalid rule :ip_proto #{inspect(other)}"
    end
  end

  defp suppress_prefixlen!(opts, family) do
    max = if family == :inet, do: 32, else: 128

    case Keyword.get(opts, :suppress_prefixlength) do
      nil ->
        nil

      n when is_integer(n) and n >= 0 and n <= max ->
        n

      other ->
        raise ArgumentError,
              "invalid rule :suppress_prefixlength #{inspect(other)}: expected 0..#{max} for #{family}"
    end
  end

  defp protocol!(opts) do
    case Keyword.get(opts, :protocol) do
      nil ->
        nil

      n when is_integer(n) and n in 0..255 ->
        n

      name when is_atom(name) ->
        Keyword.get(@protocols, name) ||
          raise ArgumentError,
                "invalid rule :protocol #{inspect(name)}: expected 0..255 or one of #{inspect(Keyword.keys(@protocols))}"

      other ->
        raise ArgumentError, "invalid rule :protocol #{inspect(other)}"
    end
  end

  defp ack({:ok, _}), do: :ok
  defp ack({:error, _} = error), do: error

  defimpl Inspect do
    alias Linx.Netlink.Rtnl.Rule

    def inspect(%Rule{} = r, _opts) do
      parts =
        [
          r.priority && "priority=#{r.priority}",
          :invert in Rule.flag_names(r) && "not",
          r.src && "from=#{addr(r.src, r.src_len)}",
          r.dst && "to=#{addr(r.dst, r.dst_len)}",
          (is_integer(r.tos) and r.tos > 0) && "tos=#{r.tos}",
          r.fwmark && "fwmark=#{hex(r.fwmark)}",
          r.fwmask && r.fwmask != 0xFFFFFFFF && "fwmask=#{hex(r.fwmask)}",
          r.iifname && "iif=#{r.iifname}",
          r.oifname && "oif=#{r.oifname}",
          r.uid_range && "uidrange=#{r.uid_range.first}-#{r.uid_range.last}",
          r.ip_proto && "ipproto=#{r.ip_proto}",
          r.sport_range && "sport=#{range(r.sport_range)}",
          r.dport_range && "dport=#{range(r.dport_range)}",
          action(r)
        ]
        |> Enum.filter(& &1)

      "#Linx.Netlink.Rtnl.Rule<" <> Enum.join(parts, " ") <> ">"
    end

    defp action(r) do
      case Rule.action_name(r) do
        :to_tbl when r.l3mdev == 1 -> "l3mdev"
        :to_tbl -> "table=#{Rule.target_table(r)}"
        :goto -> "goto=#{r.goto}"
        nil -> nil
        other when is_atom(other) -> Atom.to_string(other)
        other -> "action=#{other}"
      end
    end

    defp addr(%Linx.IP{} = ip, len), do: "#{Linx.IP.to_string(ip)}/#{len}"
    defp addr(_, len), do: "?/#{len}"
    defp hex(n) when is_integer(n), do: "0x" <> Integer.to_string(n, 16)
    defp range(a..a//_), do: "#{a}"
    defp range(a..b//_), do: "#{a}-#{b}"
    defp range(_), do: "?"
  end
end
