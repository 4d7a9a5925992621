defmodule Linx.Netlink.Rtnl.Route do
  @moduledoc """
  Routes: `RTM_NEWROUTE`/`RTM_DELROUTE`/`RTM_GETROUTE` messages (`struct rtmsg` plus
  `RTA_*` attributes, `/usr/include/linux/rtnetlink.h`), as `ip route` shows and
  changes them. IPv4 and IPv6.

      {:ok, sock} = Linx.Netlink.Rtnl.open()
      :ok = Route.add(sock, "192.168.9.0", 24, "10.0.0.254")
      :ok = Route.add(sock, "10.9.0.0", 16, nil, dev: "eth0")            # device route
      :ok = Route.add(sock, "2001:db8::", 32, "fe80::1%eth0")            # link-local gateway
      :ok = Route.add(sock, "10.66.0.0", 16, nil, type: :blackhole, table: 100)
      :ok = Route.add(sock, "10.7.0.0", 16, nil,
              multipath: [[gateway: "10.0.0.2", weight: 3], [gateway: "10.0.0.3"]])
      :ok = Route.replace(sock, "192.168.9.0", 24, "10.0.0.253", metrics: [mtu: 1400])
      {:ok, routes} = Route.list(sock, table: 100, family: :inet)
      {:ok, route} = Route.get(sock, "192.168.9.7")
      :ok = Route.delete(sock, "10.9.0.0", 16, nil)

  ## Decoded fields

  Header (`struct rtmsg`, integers): `family` (2 or 10), `dst_len`, `src_len`, `tos`,
  `table` (the header byte; the kernel puts `RT_TABLE_COMPAT` 252 there for tables above
  255), `protocol`, `scope`, `type`,
  `flags` (`RTM_F_*` and `RTNH_F_*` bits). `type_name/1`, `scope_name/1`,
  `protocol_name/1` and `flag_names/1` name them, `target_table/1` gives the full table id.

  Attributes (nil when absent): `dst`, `src` (`RTA_SRC`, the source prefix of
  `ip route ... from`), `iif`, `oif`, `gateway`, `priority` (the metric), `prefsrc`
  (`ip route ... src`), `metrics` (`Linx.Netlink.Rtnl.Route.Metrics`), `multipath` (a
  list of `Linx.Netlink.Rtnl.Route.Path`), `flow` (realms), `cacheinfo`
  (`Linx.Netlink.Rtnl.Route.CacheInfo`), `table_ext` (`RTA_TABLE`), `mark`, `via`
  (`RTA_VIA`, a gateway of another family), `pref` (IPv6 router preference: 0 medium,
  1 high, 3 low), `encap_type`, `encap` (raw `RTA_ENCAP`, e.g. the `LWTUNNEL_IP_*` nest),
  `expires`, `uid`, `nh_id` (the nexthop object, see `Linx.Netlink.Rtnl.Nexthop`).
  Addresses are `Linx.IP` structs. `RTA_IP_PROTO`, `RTA_SPORT` and `RTA_DPORT` only
  select a route in `get/3` (its `:ip_proto`, `:sport`, `:dport` options; the kernel
  never reports them), and the MPLS-only `RTA_NEWDST`/`RTA_TTL_PROPAGATE` are not
  decoded: that keeps the struct at 29 fields, below the 32 keys where a map becomes a
  slower hash trie (see `docs/PERFORMANCE.md`).

  ## Options of `add`, `replace`, `append`, `delete` and the `*_default` verbs

  Options speak `ip route`'s words; an unknown key, or a bad value, raises
  `ArgumentError` naming it.

    * `:table` — 1..2³²−1 or `:main` (254, the default), `:local` (255), `:default`
      (253). Up to 255 it goes in the header byte, above in `RTA_TABLE`.
    * `:protocol` — 0..255 or a name (`:kernel`, `:boot` (the default for writes),
      `:static`, `:ra`, `:dhcp`, `:bird`, `:bgp`, ... see `protocol_name/1`); delete
      matches any protocol unless given.
    * `:metric` — `RTA_PRIORITY`, 0..2³²−1.
    * `:dev` (or `:oif`) — the output interface, by name or ifindex. A gateway may
      also carry it as an IPv6 zone: `"fe80::1%eth0"`.
    * `:type` — `:unicast` (default), `:local`, `:broadcast`, `:anycast`, `:multicast`,
      `:blackhole`, `:unreachable`, `:prohibit`, `:throw`, `:nat`, `:xresolve`, or
      0..255. Delete matches any type unless given.
    * `:scope` — `:universe` (or `:global`), `:site`, `:link`, `:host`, `:nowhere`, or
      0..255. By default chosen as `ip route` does: `:link` for an IPv4 device route,
      `:host` for local routes, `:universe` otherwise; delete matches any scope.
    * `:prefsrc` (or `:src`, as in `ip route ... src`) — the preferred source address.
    * `:from` — the source prefix (`RTA_SRC`): `"2001:db8::/64"` or a
      `Linx.IP.Subnet`. (IPv6 source routing.)
    * `:onlink` — `true` to treat the gateway as on-link (`RTNH_F_ONLINK`).
    * `:metrics` — a keyword list, map or `Linx.Netlink.Rtnl.Route.Metrics`:
      `[mtu: 1400, advmss: 1360, initcwnd: 10, lock: [:mtu]]`.
    * `:multipath` — a list of paths, each a keyword list or map with `:gateway`,
      `:dev`/`:oif`, `:weight` (1..256), `:onlink`, `:via`, or a `Route.Path`.
    * `:nhid` — route through a nexthop object (`Linx.Netlink.Rtnl.Nexthop`).
    * `:via` — a gateway of another address family (an IPv4 route via an IPv6
      neighbour), sent as `RTA_VIA`.
    * `:tos` — 0..255. `:pref` — `:low`, `:medium`, `:high` (IPv6 only). `:expires` —
      seconds (IPv6 only).
    * `:family` — `:inet` or `:inet6`, only needed by `add_default/3` and
      `delete_default/3` when there is no gateway to tell.

  ## add, replace, append

  `add/5` is a strict create (`NLM_F_CREATE | NLM_F_EXCL`: `:eexist` when the route
  exists). `replace/5` creates or overwrites in place (`NLM_F_REPLACE`), the idempotent
  upsert. `append/5` (`NLM_F_APPEND`) adds another route for the same destination
  after the existing ones (IPv4), or adds nexthops to an existing multipath route
  (IPv6).

  ## Bulk

  `add_many/3` and `delete_many/3` send many requests per datagram, ACK only the last,
  and still report every failure; `list/1` decodes 100,000 routes in well under a
  second (see `docs/PERFORMANCE.md`).
  """

  use Linx.Netlink.Codec

  import Bitwise
  import Linx.Netlink.Constants
  import Linx.Netlink.Request, only: [is_transport: 1]

  alias Linx.IP
  alias Linx.IP.Subnet
  alias Linx.Netlink.{Batch, Error, Message, Request, Socket}
  alias Linx.Netlink.Rtnl.Link
  alias Linx.Netlink.Rtnl.Route.{CacheInfo, Metrics, Multipath, Path, Via}

  # /usr/include/linux/rtnetlink.h, RTM_* message types
  @rtm_newroute 24
  @rtm_delroute 25
  @rtm_getroute 26

  # /usr/include/x86_64-linux-gnu/bits/socket.h (AF_INET = PF_INET, AF_INET6 = PF_INET6)
  @af_inet 2
  @af_inet6 10

  # /usr/include/linux/rtnetlink.h, rt_class_t
  @rt_table_main 254
  @tables [default: 253, main: 254, local: 255]

  # /usr/include/linux/rtnetlink.h, RTPROT_*
  @protocols [
    unspec: 0,
    redirect: 1,
    kernel: 2,
    boot: 3,
    static: 4,
    gated: 8,
    ra: 9,
    mrt: 10,
    zebra: 11,
    bird: 12,
    dnrouted: 13,
    xorp: 14,
    ntk: 15,
    dhcp: 16,
    mrouted: 17,
    keepalived: 18,
    babel: 42,
    openr: 99,
    bgp: 186,
    isis: 187,
    ospf: 188,
    rip: 189,
    eigrp: 192
  ]
  @rtprot_boot 3

  # /usr/include/linux/rtnetlink.h, RTN_*
  @types [
    unspec: 0,
    unicast: 1,
    local: 2,
    broadcast: 3,
    anycast: 4,
    multicast: 5,
    blackhole: 6,
    unreachable: 7,
    prohibit: 8,
    throw: 9,
    nat: 10,
    xresolve: 11
  ]
  @rtn_unicast 1

  # /usr/include/linux/rtnetlink.h, rt_scope_t (`ip` prints universe as "global")
  @scopes [universe: 0, site: 200, link: 253, host: 254, nowhere: 255]
  @rt_scope_universe 0
  @rt_scope_link 253
  @rt_scope_host 254
  @rt_scope_nowhere 255

  # /usr/include/linux/rtnetlink.h, RTM_F_* (rtm_flags also carries RTNH_F_* bits)
  @rtm_f [
    dead: 0x1,
    pervasive: 0x2,
    onlink: 0x4,
    offload: 0x8,
    linkdown: 0x10,
    unresolved: 0x20,
    trap: 0x40,
    notify: 0x100,
    cloned: 0x200,
    equalize: 0x400,
    prefix: 0x800,
    lookup_table: 0x1000,
    fib_match: 0x2000,
    rt_offload: 0x4000,
    rt_trap: 0x8000,
    rt_offload_failed: 0x20000000
  ]
  @rtnh_f_onlink 0x4
  @rtm_f_fib_match 0x2000

  # /usr/include/linux/icmpv6.h, ICMPV6_ROUTER_PREF_*
  @prefs [medium: 0, high: 1, low: 3]

  # /usr/include/linux/netlink.h: SOL_NETLINK (bits/socket.h), NETLINK_GET_STRICT_CHK
  @sol_netlink 270
  @netlink_get_strict_chk 12

  codec do
    # struct rtmsg
    header do
      field :family, :u8
      field :dst_len, :u8
      field :src_len, :u8
      field :tos, :u8
      field :table, :u8
      field :protocol, :u8
      field :scope, :u8
      field :type, :u8
      field :flags, :u32
    end

    # enum rtattr_type_t
    attr 1, :dst, Linx.IP
    attr 2, :src, Linx.IP
    attr 3, :iif, :u32
    attr 4, :oif, :u32
    attr 5, :gateway, Linx.IP
    attr 6, :priority, :u32
    attr 7, :prefsrc, Linx.IP
    attr 8, :metrics, Metrics
    attr 9, :multipath, Multipath
    attr 11, :flow, :u32
    attr 12, :cacheinfo, CacheInfo
    attr 15, :table_ext, :u32
    attr 16, :mark, :u32
    attr 18, :via, Via
    attr 20, :pref, :u8
    attr 21, :encap_type, :u16
    attr 22, :encap, :binary
    attr 23, :expires, :u32
    attr 25, :uid, :u32
    attr 30, :nh_id, :u32
  end

  # --- fast decoding ----------------------------------------------------------------------
  #
  # `list/2` decodes with `decode_fast/1`, which gives exactly what the codec's `decode/1`
  # gives (a test checks both on every attribute) but allocates nothing until the final
  # struct: each attribute value travels in an argument of the recursive walk instead of
  # updating a struct per attribute. With 100,000 routes that is the difference between
  # the dump's decode costing about as much as the kernel's work, or several times it.
  # The struct stays below 33 keys for the same reason (a larger map is a hash trie,
  # several times slower to build and update).

  @fast [
    {1, :dst, :ip},
    {2, :src, :ip},
    {3, :iif, :u32},
    {4, :oif, :u32},
    {5, :gateway, :ip},
    {6, :priority, :u32},
    {7, :prefsrc, :ip},
    {8, :metrics, Metrics},
    {9, :multipath, Multipath},
    {11, :flow, :u32},
    {12, :cacheinfo, CacheInfo},
    {15, :table_ext, :u32},
    {16, :mark, :u32},
    {18, :via, Via},
    {20, :pref, :u8},
    {21, :encap_type, :u16},
    {22, :encap, :binary},
    {23, :expires, :u32},
    {25, :uid, :u32},
    {30, :nh_id, :u32}
  ]

  @doc false
  @spec fast_attrs() :: [{pos_integer(), atom(), atom()}]
  def fast_attrs, do: @fast

  @doc false
  # Same result as decode/1 (never raises), faster; see above.
  @spec decode_fast(binary()) :: t()
  def decode_fast(<<header::binary-size(12), rest::binary>>),
    do: fast_walk(rest, header, unquote_splicing(List.duplicate(nil, length(@fast))))

  def decode_fast(bin) when is_binary(bin), do: decode(bin)

  fast_vars = for {_, name, _} <- @fast, do: Macro.var(name, nil)
  rest_var = Macro.var(:rest, nil)
  value_var = Macro.var(:value, nil)
  header_var = Macro.var(:header, nil)

  fast_value = fn
    # a copy: 3 words on the heap instead of a sub-binary that pins the whole datagram
    :ip ->
      quote(location: :keep, do: Linx.IP.decode(:binary.copy(unquote(value_var))))

    :binary ->
      value_var

    :u8 ->
      quote(
        location: :keep,
        do: with(<<x::native-8>> <- unquote(value_var), do: x, else: (_ -> nil))
      )

    :u16 ->
      quote(
        location: :keep,
        do: with(<<x::native-16>> <- unquote(value_var), do: x, else: (_ -> nil))
      )

    :u32 ->
      quote(
        location: :keep,
        do: with(<<x::native-32>> <- unquote(value_var), do: x, else: (_ -> nil))
      )

    mod ->
      quote(do: unquote(mod).decode(unquote(value_var)))
  end

  fast_clauses =
    for {{id, _name, type}, i} <- Enum.with_index(@fast) do
      var = Enum.at(fast_vars, i)

      updated =
        List.replace_at(
          fast_vars,
          i,
          quote location: :keep do
            case unquote(var) do
              nil -> unquote(fast_value.(type))
              first -> first
            end
          end
        )

      hd(
        quote do
          unquote(id) ->
            fast_walk(unquote(rest_var), unquote(header_var), unquote_splicing(updated))
        end
      )
    end

  fast_default =
    quote do
      _ -> fast_walk(unquote(rest_var), unquote(header_var), unquote_splicing(fast_vars))
    end

  fast_case =
    {:case, [],
     [quote(do: unquote(Macro.var(:type, nil)) &&& 0x3FFF), [do: fast_clauses ++ fast_default]]}

  # An attribute and its padding, matched in the head so that the binary match carries
  # on in place from one attribute to the next (no sub-binary for the rest).
  defp fast_walk(
         <<len::native-16, type::native-16, value::binary-size(len - 4),
           _pad::binary-size(rem(4 - rem(len, 4), 4)), rest::binary>>,
         header,
         unquote_splicing(fast_vars)
       )
       when len >= 4 do
    unquote(fast_case)
  end

  # The last attribute without (all of) its padding.
  defp fast_walk(
         <<len::native-16, type::native-16, value::binary-size(len - 4), _short::binary>>,
         header,
         unquote_splicing(fast_vars)
       )
       when len >= 4 do
    rest = <<>>
    unquote(fast_case)
  end

  # The end, or an attribute whose length is wrong: what was decoded so far.
  defp fast_walk(_rest, header, unquote_splicing(fast_vars)),
    do: fast_done(header, unquote_splicing(fast_vars))

  defp fast_done(
         <<family, dst_len, src_len, tos, table, protocol, scope, type, flags::native-32>>,
         unquote_splicing(fast_vars)
       ) do
    unquote(
      {:%, [],
       [
         {:__MODULE__, [], nil},
         {:%{}, [],
          [
            family: Macro.var(:family, nil),
            dst_len: Macro.var(:dst_len, nil),
            src_len: Macro.var(:src_len, nil),
            tos: Macro.var(:tos, nil),
            table: Macro.var(:table, nil),
            protocol: Macro.var(:protocol, nil),
            scope: Macro.var(:scope, nil),
            type: Macro.var(:type, nil),
            flags: Macro.var(:flags, nil)
          ] ++ for({_, name, _} <- @fast, do: {name, Macro.var(name, nil)})}
       ]}
    )
  end

  @typedoc "An address as text or a `Linx.IP`."
  @type address :: String.t() | IP.t()

  @typedoc "A table id or name."
  @type table :: 1..0xFFFFFFFF | :main | :local | :default

  @typedoc "Route options; see the moduledoc."
  @type opts :: [
          table: table(),
          protocol: 0..255 | atom(),
          metric: 0..0xFFFFFFFF,
          dev: String.t() | pos_integer(),
          oif: String.t() | pos_integer(),
          type: 0..255 | atom(),
          scope: 0..255 | atom(),
          prefsrc: address(),
          src: address(),
          from: String.t() | Subnet.t(),
          onlink: boolean(),
          metrics: Metrics.t() | keyword() | map(),
          multipath: [Path.t() | keyword() | map()],
          nhid: pos_integer(),
          via: address(),
          tos: 0..255,
          pref: :low | :medium | :high,
          expires: 0..0xFFFFFFFF,
          family: :inet | :inet6
        ]

  @typedoc "A route for `add_many/3` and `delete_many/3`."
  @type spec ::
          t()
          | {address(), non_neg_integer(), address() | nil}
          | {address(), non_neg_integer(), address() | nil, opts()}

  @route_keys [
    :table,
    :protocol,
    :metric,
    :dev,
    :oif,
    :type,
    :scope,
    :prefsrc,
    :src,
    :from,
    :onlink,
    :metrics,
    :multipath,
    :nhid,
    :via,
    :tos,
    :pref,
    :expires,
    :family
  ]

  # --- names --------------------------------------------------------------------------

  @doc """
  The route type (`rtm_type`) as an atom, or the integer when it has no name.

      iex> Linx.Netlink.Rtnl.Route.type_name(%Linx.Netlink.Rtnl.Route{type: 6})
      :blackhole
  """
  @spec type_name(t()) :: atom() | integer() | nil
  def type_name(%__MODULE__{type: type}), do: name_of(@types, type)

  @doc """
  The scope (`rtm_scope`) as an atom: `:universe`, `:site`, `:link`, `:host`,
  `:nowhere`, or the integer.
  """
  @spec scope_name(t()) :: atom() | integer() | nil
  def scope_name(%__MODULE__{scope: scope}), do: name_of(@scopes, scope)

  @doc """
  The protocol (`rtm_protocol`, who installed the route) as an atom (`:kernel`,
  `:boot`, `:static`, `:dhcp`, `:bgp`, ...), or the integer.
  """
  @spec protocol_name(t()) :: atom() | integer() | nil
  def protocol_name(%__MODULE__{protocol: protocol}), do: name_of(@protocols, protocol)

  @doc """
  The `rtm_flags` bits set, as atoms (`:onlink`, `:linkdown`, `:cloned`, ...; the
  route offload bits are `:rt_offload`/`:rt_trap`).
  """
  @spec flag_names(t()) :: [atom()]
  def flag_names(%__MODULE__{flags: flags}) when is_integer(flags),
    do: for({name, bit} <- @rtm_f, (flags &&& bit) != 0, do: name)

  def flag_names(%__MODULE__{}), do: []

  defp name_of(_table, nil), do: nil

  defp name_of(table, value) do
    case List.keyfind(table, value, 1) do
      {name, _} -> name
      nil -> value
    end
  end

  @doc """
  The route's table id: `RTA_TABLE` when present (it carries ids above 255), else the
  header byte.

      iex> Linx.Netlink.Rtnl.Route.target_table(%Linx.Netlink.Rtnl.Route{table: 0, table_ext: 1000})
      1000
  """
  @spec target_table(t()) :: non_neg_integer() | nil
  def target_table(%__MODULE__{table_ext: t}) when is_integer(t) and t > 0, do: t
  def target_table(%__MODULE__{table: t}), do: t

  # --- reads ----------------------------------------------------------------------------

  @doc """
  Every route of every table in the socket's netns (an `RTM_GETROUTE` dump, like
  `ip route show table all` plus `ip -6 route show table all`). Unprivileged.

  `opts` filter the dump: `:table` (an id, `:main`, `:local`, `:default`, or `:all`,
  the default), `:family` (`:inet`, `:inet6`), `:protocol`, `:type` (ids or names as for
  `add/5`) and `:dev`/`:oif`. The kernel filters the table, protocol, type and device
  itself when the socket is a `Linx.Netlink.Socket` (Linx turns on
  `NETLINK_GET_STRICT_CHK` on it for that, as iproute2 does on its own sockets); the
  result is filtered again here, so it is exact on any transport. A table that does not
  exist has no routes: `{:ok, []}`.
  """
  @spec list(Socket.t(), keyword()) :: {:ok, [t()]} | {:error, Error.t()}
  def list(sock, opts \\ []) when is_transport(sock) and is_list(opts) do
    with {:ok, filter, payload} <- dump_request(sock, opts),
         {:ok, raw} <- dump(sock, payload, filter, [], &[&1 | &2]) do
      {:ok, decode_all(raw, filter)}
    end
  end

  @doc """
  Folds `fun` over the routes of a dump as they arrive, without building the list:
  `{:ok, acc}` or `{:error, %Linx.Netlink.Error{}}`. Takes the filters of `list/2`. If
  the dump has to be restarted (a concurrent change, `NLM_F_DUMP_INTR`), the fold
  restarts from `acc`, so `fun` may see some routes twice; keep it free of side effects.

      {:ok, count} = Route.fold(sock, 0, fn _route, n -> n + 1 end, table: 100)
  """
  @spec fold(Socket.t(), acc, (t(), acc -> acc), keyword()) :: {:ok, acc} | {:error, Error.t()}
        when acc: term()
  def fold(sock, acc, fun, opts \\ [])
      when is_transport(sock) and is_function(fun, 2) and is_list(opts) do
    with {:ok, filter, payload} <- dump_request(sock, opts) do
      dump(sock, payload, filter, acc, fn bin, acc ->
        route = decode_fast(bin)
        if filter == nil or matches?(route, filter), do: fun.(route, acc), else: acc
      end)
    end
  end

  # The dump request and the client-side filter (nil: no filter, a zeroed header).
  defp dump_request(_sock, []), do: {:ok, nil, <<0::96>>}

  defp dump_request(sock, opts) do
    filter = list_filter!(opts)

    with {:ok, filter} <- resolve_filter_dev(sock, filter) do
      _ = strict_check(sock)

      request = %__MODULE__{
        family: family_int(filter.family),
        table: if(filter.table <= 255, do: filter.table, else: 0),
        table_ext: if(filter.table > 255, do: filter.table),
        protocol: filter.protocol,
        type: filter.type,
        oif: filter.oif
      }

      {:ok, filter, encode(request)}
    end
  end

  # Folds `fun` over the payloads of the RTM_NEWROUTE replies.
  defp dump(sock, payload, filter, acc, fun) do
    Request.fold(
      sock,
      @rtm_getroute,
      nlm_f_dump(),
      payload,
      acc,
      fn
        %Message{type: @rtm_newroute, payload: bin}, acc -> fun.(bin, acc)
        _other, acc -> acc
      end,
      operation: :list_routes,
      object: sock.netns
    )
    |> case do
      # IPv4 answers ENOENT for a table that does not exist ("ipv4: FIB table does not
      # exist"); IPv6 and a dump of all families answer with nothing.
      {:error, %Error{errno: :enoent}} when filter != nil and filter.table != 0 -> {:ok, acc}
      other -> other
    end
  end

  # Decodes the payloads (collected newest first) into routes in dump order.
  #
  # Building 100,000 structs grows the caller's heap by tens of megabytes; left to
  # itself the BEAM grows it in many steps of about 20%, copying every route at each
  # step, which costs more than the decoding. Knowing the count, the minimum heap size
  # is raised once for the duration (about 48 words per route) and restored after.
  @big_dump 10_000
  @words_per_route 48

  defp decode_all(raw, filter) do
    n = length(raw)

    old =
      if n >= @big_dump do
        try do
          Process.flag(:min_heap_size, n * @words_per_route)
        rescue
          # a max_heap_size below that: decode with the usual growth
          ArgumentError -> nil
        end
      end

    routes = decode_rev(raw, filter, [])
    _ = if old, do: Process.flag(:min_heap_size, old)
    routes
  end

  defp decode_rev([bin | rest], nil, acc), do: decode_rev(rest, nil, [decode_fast(bin) | acc])

  defp decode_rev([bin | rest], filter, acc) do
    route = decode_fast(bin)
    decode_rev(rest, filter, if(matches?(route, filter), do: [route | acc], else: acc))
  end

  defp decode_rev([], _filter, acc), do: acc

  defp list_filter!(opts) do
    Enum.reduce(
      opts,
      %{table: 0, family: nil, protocol: 0, type: 0, oif: nil, dev: nil},
      fn
        {:table, :all}, f -> %{f | table: 0}
        {:table, t}, f -> %{f | table: table!(t)}
        {:family, fam}, f -> %{f | family: family!(fam)}
        {:protocol, p}, f -> %{f | protocol: named!(:protocol, p, @protocols)}
        {:type, t}, f -> %{f | type: named!(:type, t, @types)}
        {key, d}, f when key in [:dev, :oif] -> %{f | dev: dev!(key, d)}
        other, _ -> raise ArgumentError, "unknown option for Route.list/2: #{inspect(other)}"
      end
    )
  end

  defp resolve_filter_dev(_sock, %{dev: nil} = f), do: {:ok, f}

  defp resolve_filter_dev(sock, %{dev: dev} = f) do
    with {:ok, index} <- Link.resolve(sock, dev), do: {:ok, %{f | oif: index}}
  end

  defp matches?(r, f) do
    (f.table == 0 or target_table(r) == f.table) and
      (f.family == nil or r.family == family_int(f.family)) and
      (f.protocol == 0 or r.protocol == f.protocol) and
      (f.type == 0 or r.type == f.type) and
      (f.oif == nil or uses_oif?(r, f.oif))
  end

  defp uses_oif?(%__MODULE__{oif: oif}, oif), do: true

  defp uses_oif?(%__MODULE__{multipath: paths}, oif) when is_list(paths),
    do: Enum.any?(paths, &(&1.oif == oif))

  defp uses_oif?(_route, _oif), do: false

  # Kernel-side dump filtering needs strict checking; only a plain socket can be set.
  defp strict_check(%Socket{socket: socket}),
    do: :socket.setopt_native(socket, {@sol_netlink, @netlink_get_strict_chk}, <<1::native-32>>)

  defp strict_check(_other), do: :ok

  @doc """
  The route the kernel would use to reach `destination` (`RTM_GETROUTE` without dump,
  like `ip route get`). An unroutable destination is an `:enetunreach` error.

  `opts`: `:from` (source address), `:iif` and `:dev`/`:oif` (interfaces by name or
  index), `:mark`, `:uid`, `:ip_proto` (a protocol number, or `:tcp`, `:udp`, `:icmp`,
  `:icmpv6`), `:sport` and `:dport` (for policy routing on ports), and `fib_match: true`
  to get the FIB entry that matched (`ip route get ... fibmatch`) rather than the
  resolved route.
  """
  @spec get(Socket.t(), address(), keyword()) :: {:ok, t()} | {:error, Error.t()}
  def get(sock, destination, opts \\ []) when is_transport(sock) and is_list(opts) do
    dst = ip!(:destination, destination)
    # a full-length prefix, which strict checking (NETLINK_GET_STRICT_CHK) insists on
    full = if dst.family == :inet, do: 32, else: 128
    request = %__MODULE__{family: family_int(dst.family), dst_len: full, dst: %{dst | zone: nil}}

    with {:ok, {request, extra}} <- get_opts(sock, request, opts, dst.family) do
      case Request.talk(sock, @rtm_getroute, 0, IO.iodata_to_binary([encode(request) | extra]),
             operation: :get_route,
             object: dst
           ) do
        {:ok, [msg | _]} ->
          case decode_message(msg) do
            nil -> {:error, no_reply(dst, "unexpected reply type #{msg.type}")}
            route -> {:ok, route}
          end

        {:ok, []} ->
          {:error, no_reply(dst, "no reply")}

        error ->
          error
      end
    end
  end

  defp no_reply(dst, text),
    do: Error.new(:enodata, operation: :get_route, object: dst, message: text)

  # /usr/include/linux/in.h IPPROTO_*
  @ip_protos [icmp: 1, tcp: 6, udp: 17, icmpv6: 58]

  # The struct's fields, plus the request-only RTA_IP_PROTO (27, u8), RTA_SPORT (28,
  # be16) and RTA_DPORT (29, be16) as encoded attributes.
  defp get_opts(sock, request, opts, family) do
    Enum.reduce_while(opts, {:ok, {request, []}}, fn opt, {:ok, {r, extra}} ->
      case get_opt(sock, r, opt, family) do
        {:ok, r} -> {:cont, {:ok, {r, extra}}}
        {:attr, attr} -> {:cont, {:ok, {r, [extra | Linx.Netlink.Attr.encode_one(attr)]}}}
        error -> {:halt, error}
      end
    end)
  end

  defp get_opt(_sock, _r, {:ip_proto, p}, _) do
    n = if is_atom(p), do: Keyword.get(@ip_protos, p, p), else: p

    if is_integer(n) and n in 0..255,
      do: {:attr, {27, <<n>>}},
      else: raise(ArgumentError, "bad value for option :ip_proto: #{inspect(p)}")
  end

  defp get_opt(_sock, _r, {port, n}, _) when port in [:sport, :dport] do
    if is_integer(n) and n in 0..0xFFFF,
      do: {:attr, {if(port == :sport, do: 28, else: 29), <<n::16>>}},
      else: raise(ArgumentError, "bad value for option #{inspect(port)}: #{inspect(n)}")
  end

  defp get_opt(_sock, r, {:from, addr}, family) do
    src = ip!(:from, addr)
    same_family!(:from, src, family)
    {:ok, %{r | src: src, src_len: if(family == :inet, do: 32, else: 128)}}
  end

  defp get_opt(sock, r, {:iif, dev}, _family) do
    with {:ok, index} <- Link.resolve(sock, dev!(:iif, dev)), do: {:ok, %{r | iif: index}}
  end

  defp get_opt(sock, r, {key, dev}, _family) when key in [:dev, :oif] do
    with {:ok, index} <- Link.resolve(sock, dev!(key, dev)), do: {:ok, %{r | oif: index}}
  end

  defp get_opt(_sock, r, {:mark, m}, _), do: {:ok, %{r | mark: u32!(:mark, m)}}
  defp get_opt(_sock, r, {:uid, u}, _), do: {:ok, %{r | uid: u32!(:uid, u)}}
  defp get_opt(_sock, r, {:fib_match, true}, _), do: {:ok, %{r | flags: @rtm_f_fib_match}}
  defp get_opt(_sock, r, {:fib_match, false}, _), do: {:ok, r}

  defp get_opt(_sock, _r, other, _),
    do: raise(ArgumentError, "unknown or bad option for Route.get/3: #{inspect(other)}")

  # --- writes ---------------------------------------------------------------------------

  @doc """
  Adds a route to `destination`/`prefix` via `gateway` (`RTM_NEWROUTE` with
  `NLM_F_CREATE | NLM_F_EXCL`, like `ip route add`). `gateway` may be `nil` for a
  device route (`dev:`), a multipath route, a route through a nexthop object
  (`nhid:`) or a route type without a gateway (`type: :blackhole`). An existing route
  gives `:eexist`. See the moduledoc for `opts`.
  """
  @spec add(Socket.t(), address(), non_neg_integer(), address() | nil, opts()) ::
          :ok | {:error, Error.t()}
  def add(sock, destination, prefix, gateway, opts \\ []) when is_transport(sock),
    do: write(sock, :add_route, destination, prefix, gateway, opts)

  @doc """
  Creates or replaces the route (`NLM_F_CREATE | NLM_F_REPLACE`, like
  `ip route replace`): the idempotent upsert, and the way to change a route's gateway,
  device or metrics in place. Same arguments as `add/5`.
  """
  @spec replace(Socket.t(), address(), non_neg_integer(), address() | nil, opts()) ::
          :ok | {:error, Error.t()}
  def replace(sock, destination, prefix, gateway, opts \\ []) when is_transport(sock),
    do: write(sock, :replace_route, destination, prefix, gateway, opts)

  @doc """
  Appends a route (`NLM_F_CREATE | NLM_F_APPEND`, like `ip route append`): for IPv4 a
  further route to the same destination after the existing ones, for IPv6 more
  nexthops of an existing route (they form a multipath route). Same arguments as
  `add/5`.
  """
  @spec append(Socket.t(), address(), non_neg_integer(), address() | nil, opts()) ::
          :ok | {:error, Error.t()}
  def append(sock, destination, prefix, gateway, opts \\ []) when is_transport(sock),
    do: write(sock, :append_route, destination, prefix, gateway, opts)

  @doc """
  Adds the default route (`0.0.0.0/0` or `::/0`, from the gateway's family) via
  `gateway`. With a `nil` gateway (a device default route, `dev:`) pass
  `family: :inet6` for IPv6; IPv4 is assumed otherwise.
  """
  @spec add_default(Socket.t(), address() | nil, opts()) :: :ok | {:error, Error.t()}
  def add_default(sock, gateway, opts \\ []) when is_transport(sock) do
    add(sock, default_dst(gateway, opts), 0, gateway, opts)
  end

  @doc """
  Deletes the route to `destination`/`prefix` (`RTM_DELROUTE`, like `ip route del`).
  The kernel matches only what is given: `gateway` (`nil` matches any gateway, so a
  device route is deleted by passing `nil`), `:dev`, `:metric`, `:protocol`, `:type`,
  `:scope`, `:tos`; the table defaults to main. With several matches the first goes.
  """
  @spec delete(Socket.t(), address(), non_neg_integer(), address() | nil, opts()) ::
          :ok | {:error, Error.t()}
  def delete(sock, destination, prefix, gateway, opts \\ []) when is_transport(sock),
    do: write(sock, :delete_route, destination, prefix, gateway, opts)

  @doc """
  Deletes a route as `list/2` or `get/3` returned it: its table, destination, source
  prefix, tos, type, protocol, metric, gateway, device, nexthops or nexthop object select
  it.
  """
  @spec delete(Socket.t(), t()) :: :ok | {:error, Error.t()}
  def delete(sock, %__MODULE__{} = route) when is_transport(sock) do
    key = delete_key(route)

    Request.talk(sock, @rtm_delroute, nlm_f_ack(), encode(key),
      operation: :delete_route,
      object: object(key)
    )
    |> ack()
  end

  @doc "Deletes the default route via `gateway` (`nil`: any gateway); see `add_default/3`."
  @spec delete_default(Socket.t(), address() | nil, opts()) :: :ok | {:error, Error.t()}
  def delete_default(sock, gateway, opts \\ []) when is_transport(sock) do
    delete(sock, default_dst(gateway, opts), 0, gateway, opts)
  end

  defp default_dst(nil, opts) do
    case Keyword.get(opts, :family, :inet) do
      :inet -> %IP{family: :inet, bytes: <<0::32>>}
      :inet6 -> %IP{family: :inet6, bytes: <<0::128>>}
      other -> raise ArgumentError, "bad value for option :family: #{inspect(other)}"
    end
  end

  defp default_dst(gateway, _opts) do
    case ip!(:gateway, gateway) do
      %IP{family: :inet} -> %IP{family: :inet, bytes: <<0::32>>}
      %IP{family: :inet6} -> %IP{family: :inet6, bytes: <<0::128>>}
    end
  end

  # message type and flags (NLM_F_REQUEST is added by Request/Batch) of each write
  @verbs %{
    add_route: {@rtm_newroute, nlm_f_create() ||| nlm_f_excl() ||| nlm_f_ack()},
    replace_route: {@rtm_newroute, nlm_f_create() ||| nlm_f_replace() ||| nlm_f_ack()},
    append_route: {@rtm_newroute, nlm_f_create() ||| nlm_f_append() ||| nlm_f_ack()},
    delete_route: {@rtm_delroute, nlm_f_ack()}
  }

  defp write(sock, op, destination, prefix, gateway, opts) do
    check_opts!(opts)
    {type, flags} = Map.fetch!(@verbs, op)
    # the destination and prefix are checked before any interface name costs a request
    prefix!(ip!(:destination, destination).family, prefix)
    gw = if gateway == nil, do: nil, else: ip!(:gateway, gateway)

    with {:ok, gw, opts, _cache} <- resolve_devs(sock, gw, opts, %{}) do
      {:ok, route} = build_op(op, destination, prefix, gw, opts)

      Request.talk(sock, type, flags, encode(route), operation: op, object: object(route))
      |> ack()
    end
  end

  defp build_op(:delete_route, dst, prefix, gw, opts),
    do:
      build(dst, prefix, gw, Keyword.get(opts, :scope, @rt_scope_nowhere), delete_defaults(opts))

  defp build_op(_op, dst, prefix, gw, opts), do: build(dst, prefix, gw, opts[:scope], opts)

  # Deleting matches any protocol and type unless the caller narrows it.
  defp delete_defaults(opts),
    do: opts |> Keyword.put_new(:protocol, 0) |> Keyword.put_new(:type, 0)

  defp ack({:ok, _}), do: :ok
  defp ack({:error, _} = error), do: error

  defp object(%__MODULE__{dst: %IP{} = dst, dst_len: len}), do: %Subnet{address: dst, prefix: len}
  defp object(%__MODULE__{} = r), do: r

  # The interface names among the options (:dev, multipath :dev, a gateway's zone) become
  # ifindexes, each name resolved once (`cache`), so build/5 stays pure. The gateway
  # comes back without its zone (which became :oif).
  defp resolve_devs(sock, gw, opts, cache) do
    with {:ok, gw, opts, cache} <- zone_dev(sock, gw, opts, cache),
         {:ok, opts, cache} <- top_dev(sock, opts, cache),
         {:ok, opts, cache} <- multipath_devs(sock, opts, cache) do
      {:ok, gw, opts, cache}
    end
  end

  defp zone_dev(_sock, nil, opts, cache), do: {:ok, nil, opts, cache}
  defp zone_dev(_sock, %IP{zone: nil} = gw, opts, cache), do: {:ok, gw, opts, cache}

  defp zone_dev(sock, %IP{zone: zone} = gw, opts, cache) do
    zone_dev =
      case Integer.parse(zone) do
        {index, ""} when index > 0 -> index
        _ -> zone
      end

    with {:ok, index, cache} <- lookup(sock, zone_dev, cache) do
      case dev_opt(opts) do
        nil ->
          {:ok, %{gw | zone: nil}, Keyword.put(opts, :oif, index), cache}

        {key, dev} ->
          with {:ok, other, cache} <- lookup(sock, dev!(key, dev), cache) do
            if other != index do
              raise ArgumentError,
                    "gateway #{IP.to_string(gw)} names interface #{inspect(zone)} but " <>
                      "#{inspect(key)} is #{inspect(dev)}"
            end

            {:ok, %{gw | zone: nil}, opts, cache}
          end
      end
    end
  end

  defp top_dev(sock, opts, cache) do
    case dev_opt(opts) do
      {key, name} when is_binary(name) ->
        with {:ok, index, cache} <- lookup(sock, Link.validate_name!(name), cache) do
          {:ok, opts |> Keyword.delete(key) |> Keyword.put(:oif, index), cache}
        end

      _ ->
        {:ok, opts, cache}
    end
  end

  defp multipath_devs(sock, opts, cache) do
    case Keyword.get(opts, :multipath) do
      paths when is_list(paths) ->
        Enum.reduce_while(paths, {:ok, [], cache}, fn path, {:ok, acc, cache} ->
          case path_dev(sock, path, cache) do
            {:ok, path, cache} -> {:cont, {:ok, [path | acc], cache}}
            error -> {:halt, error}
          end
        end)
        |> case do
          {:ok, paths, cache} -> {:ok, Keyword.put(opts, :multipath, Enum.reverse(paths)), cache}
          error -> error
        end

      _ ->
        {:ok, opts, cache}
    end
  end

  defp path_dev(sock, path, cache) when is_list(path) or (is_map(path) and not is_struct(path)) do
    kv = Enum.to_list(path)

    gw =
      case kv[:gateway] do
        nil -> nil
        g -> ip!(:gateway, g)
      end

    with {:ok, gw, kv, cache} <- zone_dev(sock, gw, kv, cache),
         {:ok, kv, cache} <- top_dev(sock, kv, cache) do
      {:ok, if(gw, do: Keyword.put(kv, :gateway, gw), else: kv), cache}
    end
  end

  defp path_dev(_sock, path, cache), do: {:ok, path, cache}

  defp dev_opt(opts) do
    case {Keyword.fetch(opts, :dev), Keyword.fetch(opts, :oif)} do
      {:error, :error} ->
        nil

      {{:ok, d}, :error} ->
        {:dev, d}

      {:error, {:ok, d}} ->
        {:oif, d}

      {{:ok, a}, {:ok, b}} ->
        if a == b,
          do: {:dev, a},
          else: raise(ArgumentError, "both :dev #{inspect(a)} and :oif #{inspect(b)} given")
    end
  end

  defp lookup(_sock, index, cache) when is_integer(index) and index > 0, do: {:ok, index, cache}

  defp lookup(sock, name, cache) when is_binary(name) do
    case cache do
      %{^name => index} ->
        {:ok, index, cache}

      _ ->
        with {:ok, index} <- Link.resolve(sock, name),
             do: {:ok, index, Map.put(cache, name, index)}
    end
  end

  defp lookup(_sock, other, _cache),
    do:
      raise(ArgumentError, "an interface is a name or a positive ifindex, got: #{inspect(other)}")

  # --- the pure builder -----------------------------------------------------------------

  @doc false
  # Builds the request struct of a write without any I/O. `scope` is the rtm_scope byte,
  # or nil to choose it as `ip route` does. Interfaces must already be ifindexes (the
  # verbs resolve names). Bad input raises ArgumentError naming it.
  @spec build(address(), non_neg_integer(), address() | nil, 0..255 | atom() | nil, opts()) ::
          {:ok, t()}
  def build(destination, prefix, gateway, scope, opts \\ []) do
    check_opts!(opts)
    dst = ip!(:destination, destination)
    family = dst.family

    if dst.zone != nil,
      do: raise(ArgumentError, "a route destination has no zone: #{inspect(destination)}")

    prefix!(family, prefix)

    gw =
      case gateway do
        nil -> nil
        g -> ip!(:gateway, g)
      end

    if gw, do: same_family!(:gateway, gw, family)
    if (fam = opts[:family]) && family!(fam) != family, do: mismatch!(:family, fam, family)

    table = table!(Keyword.get(opts, :table, @rt_table_main))

    route = %__MODULE__{
      family: family_int(family),
      dst_len: prefix,
      table: if(table <= 255, do: table, else: 0),
      table_ext: if(table > 255, do: table),
      protocol: named!(:protocol, Keyword.get(opts, :protocol, @rtprot_boot), @protocols),
      type: named!(:type, Keyword.get(opts, :type, @rtn_unicast), @types),
      dst: dst,
      gateway: gw && %{gw | zone: nil},
      oif: zone_index(gw)
    }

    route = Enum.reduce(opts, route, &put_opt(&1, &2, family))
    # the :scope option wins over the argument (the verbs pass their default there)
    route = %{route | scope: scope!(Keyword.get(opts, :scope, scope), route)}
    {:ok, route}
  end

  defp zone_index(%IP{zone: zone}) when is_binary(zone) do
    case Integer.parse(zone) do
      {index, ""} when index > 0 -> index
      _ -> raise ArgumentError, "build/5 takes interfaces as ifindexes, got zone #{inspect(zone)}"
    end
  end

  defp zone_index(_), do: nil

  defp check_opts!(opts) when is_list(opts) do
    for opt <- opts do
      case opt do
        {key, _} when key in @route_keys -> :ok
        other -> raise ArgumentError, "unknown route option #{inspect(other)}"
      end
    end

    :ok
  end

  defp check_opts!(opts),
    do: raise(ArgumentError, "route options must be a keyword list, got: #{inspect(opts)}")

  # Options already folded into the struct by build/5, or only checked there.
  defp put_opt({key, _}, r, _fam) when key in [:table, :protocol, :type, :scope, :family], do: r
  defp put_opt({:metric, m}, r, _), do: %{r | priority: u32!(:metric, m)}

  defp put_opt({key, dev}, r, _) when key in [:dev, :oif] do
    case dev do
      i when is_integer(i) and i > 0 and i <= 0x7FFFFFFF ->
        if r.oif not in [nil, i],
          do: raise(ArgumentError, "#{inspect(key)} #{i} disagrees with the gateway's zone")

        %{r | oif: i}

      name when is_binary(name) ->
        raise ArgumentError,
              "build/5 takes #{inspect(key)} as an ifindex; the verbs resolve names, got: #{inspect(name)}"

      other ->
        raise ArgumentError, "bad value for option #{inspect(key)}: #{inspect(other)}"
    end
  end

  defp put_opt({key, addr}, r, fam) when key in [:prefsrc, :src] do
    ip = ip!(key, addr)
    same_family!(key, ip, fam)

    if r.prefsrc not in [nil, ip],
      do: raise(ArgumentError, "both :src and :prefsrc given: #{inspect(addr)}")

    %{r | prefsrc: ip}
  end

  defp put_opt({:from, from}, r, fam) do
    %Subnet{address: addr, prefix: len} = subnet!(:from, from)
    same_family!(:from, addr, fam)
    %{r | src: addr, src_len: len}
  end

  defp put_opt({:onlink, true}, r, _), do: %{r | flags: r.flags ||| @rtnh_f_onlink}
  defp put_opt({:onlink, false}, r, _), do: r
  defp put_opt({:metrics, m}, r, _), do: %{r | metrics: Metrics.new(m)}

  defp put_opt({:multipath, paths}, r, fam) when is_list(paths) and paths != [],
    do: %{r | multipath: Enum.map(paths, &path!(&1, fam))}

  defp put_opt({:nhid, id}, r, _) when is_integer(id) and id in 1..0xFFFFFFFF,
    do: %{r | nh_id: id}

  defp put_opt({:via, addr}, r, _), do: %{r | via: ip!(:via, addr)}
  defp put_opt({:tos, tos}, r, _) when is_integer(tos) and tos in 0..255, do: %{r | tos: tos}

  defp put_opt({:pref, p}, r, :inet6) when is_map_key(%{low: 0, medium: 0, high: 0}, p),
    do: %{r | pref: @prefs[p]}

  defp put_opt({:expires, s}, r, :inet6), do: %{r | expires: u32!(:expires, s)}

  defp put_opt({key, _} = opt, _r, :inet) when key in [:pref, :expires],
    do: raise(ArgumentError, "option #{inspect(opt)} applies to IPv6 routes only")

  defp put_opt({key, value}, _r, _),
    do: raise(ArgumentError, "bad value for route option #{inspect(key)}: #{inspect(value)}")

  defp path!(%Path{} = p, _fam), do: p

  defp path!(spec, fam) when is_list(spec) or is_map(spec) do
    Enum.reduce(spec, %Path{}, fn
      {:gateway, nil}, p ->
        p

      {:gateway, g}, p ->
        gw = ip!(:gateway, g)
        same_family!(:gateway, gw, fam)
        idx = zone_index(gw)
        %{p | gateway: %{gw | zone: nil}, oif: idx || p.oif}

      {key, i}, p when key in [:dev, :oif] and is_integer(i) and i > 0 and i <= 0x7FFFFFFF ->
        %{p | oif: i}

      {key, name}, _p when key in [:dev, :oif] and is_binary(name) ->
        raise ArgumentError,
              "build/5 takes multipath #{inspect(key)} as an ifindex, got: #{inspect(name)}"

      {:weight, w}, p when is_integer(w) and w in 1..256 ->
        %{p | weight: w}

      {:onlink, true}, p ->
        %{p | flags: p.flags ||| @rtnh_f_onlink}

      {:onlink, false}, p ->
        p

      {:via, v}, p ->
        %{p | via: ip!(:via, v)}

      other, _p ->
        raise ArgumentError, "bad multipath nexthop option #{inspect(other)}"
    end)
  end

  defp path!(other, _fam),
    do:
      raise(
        ArgumentError,
        "a multipath nexthop is a keyword list, map or Route.Path, got: #{inspect(other)}"
      )

  # `ip route`'s choice when no scope is given (iproute2 ip/iproute.c, iproute_modify).
  defp scope!(nil, %__MODULE__{family: @af_inet6}), do: @rt_scope_universe

  defp scope!(nil, %__MODULE__{type: type} = r) do
    cond do
      type in [2, 10] ->
        @rt_scope_host

      type in [3, 4, 5] ->
        @rt_scope_link

      type in [0, 1] and r.gateway == nil and r.via == nil and r.multipath == nil and
          r.nh_id == nil ->
        @rt_scope_link

      true ->
        @rt_scope_universe
    end
  end

  defp scope!(:global, _r), do: @rt_scope_universe
  defp scope!(scope, _r), do: named!(:scope, scope, @scopes)

  # --- input checks ---------------------------------------------------------------------

  defp ip!(_what, %IP{} = ip), do: ip

  defp ip!(what, text) when is_binary(text) do
    case IP.parse(text) do
      {:ok, ip} -> ip
      {:error, _} -> raise ArgumentError, "bad #{what} address: #{inspect(text)}"
    end
  end

  defp ip!(what, other),
    do:
      raise(ArgumentError, "#{what} must be an address string or Linx.IP, got: #{inspect(other)}")

  defp subnet!(_what, %Subnet{} = s), do: s

  defp subnet!(what, text) when is_binary(text) do
    case Subnet.parse(text) do
      {:ok, s} -> s
      {:error, _} -> raise ArgumentError, "bad #{what} prefix: #{inspect(text)}"
    end
  end

  defp subnet!(what, other),
    do:
      raise(
        ArgumentError,
        "#{what} must be \"ADDR/LEN\" or a Linx.IP.Subnet, got: #{inspect(other)}"
      )

  defp prefix!(:inet, p) when is_integer(p) and p in 0..32, do: p
  defp prefix!(:inet6, p) when is_integer(p) and p in 0..128, do: p

  defp prefix!(family, p),
    do:
      raise(
        ArgumentError,
        "bad prefix length #{inspect(p)} for #{family} (0..#{if family == :inet, do: 32, else: 128})"
      )

  defp same_family!(_what, %IP{family: fam}, fam), do: :ok
  defp same_family!(what, %IP{} = ip, fam), do: mismatch!(what, IP.to_string(ip), fam)

  defp mismatch!(what, value, fam),
    do:
      raise(
        ArgumentError,
        "#{what} #{inspect(value)} is not #{fam} like the destination (family mismatch)"
      )

  defp family!(fam) when fam in [:inet, :inet6], do: fam
  defp family!(other), do: raise(ArgumentError, "bad value for option :family: #{inspect(other)}")

  defp family_int(nil), do: 0
  defp family_int(:inet), do: @af_inet
  defp family_int(:inet6), do: @af_inet6

  defp table!(t) when is_integer(t) and t in 1..0xFFFFFFFF, do: t

  defp table!(t) when is_atom(t) and is_map_key(%{default: 0, main: 0, local: 0}, t),
    do: @tables[t]

  defp table!(t), do: raise(ArgumentError, "bad value for option :table: #{inspect(t)}")

  @doc false
  # A protocol id from a name or 0..255 (shared with Nexthop); raises ArgumentError.
  @spec named_protocol!(term()) :: 0..255
  def named_protocol!(p), do: named!(:protocol, p, @protocols)

  defp named!(_key, v, _names) when is_integer(v) and v in 0..255, do: v

  defp named!(key, v, names) when is_atom(v) do
    case Keyword.fetch(names, v) do
      {:ok, n} ->
        n

      :error ->
        raise ArgumentError,
              "unknown #{key} #{inspect(v)} (known: #{inspect(Keyword.keys(names))})"
    end
  end

  defp named!(key, v, _names),
    do: raise(ArgumentError, "bad value for option #{inspect(key)}: #{inspect(v)}")

  defp u32!(_key, v) when is_integer(v) and v in 0..0xFFFFFFFF, do: v

  defp u32!(key, v),
    do: raise(ArgumentError, "bad value for option #{inspect(key)}: #{inspect(v)}")

  defp dev!(_key, i) when is_integer(i) and i > 0 and i <= 0x7FFFFFFF, do: i
  defp dev!(_key, name) when is_binary(name), do: Link.validate_name!(name)

  defp dev!(key, other),
    do: raise(ArgumentError, "bad value for option #{inspect(key)}: #{inspect(other)}")

  # What selects a decoded route for RTM_DELROUTE; the rest (cache info, metrics,
  # preferences) is state the kernel does not match on.
  defp delete_key(%__MODULE__{} = r) do
    %__MODULE__{
      family: r.family,
      dst_len: r.dst_len,
      src_len: r.src_len,
      tos: r.tos,
      table: r.table,
      table_ext: r.table_ext,
      protocol: r.protocol,
      scope: @rt_scope_nowhere,
      type: r.type,
      dst: r.dst,
      src: r.src,
      oif: r.oif,
      gateway: r.gateway,
      via: r.via,
      priority: r.priority,
      multipath: if(r.nh_id == nil, do: r.multipath),
      nh_id: r.nh_id
    }
  end

  # --- bulk -----------------------------------------------------------------------------

  @doc """
  Adds many routes, many `RTM_NEWROUTE` requests per datagram (`NLM_F_CREATE |
  NLM_F_EXCL`), acknowledging only the last one: the kernel still answers every failed
  request with an error carrying its sequence number, so every failure is reported.

  Each route is `{destination, prefix, gateway}`, `{destination, prefix, gateway, opts}`
  or a `%Route{}` (sent as it is, e.g. from `build/5`). `opts` apply to every route
  (a route's own options win) and take, besides the route options of `add/5`:

    * `:per_send` — requests per datagram (default 256);
    * `:timeout` — ms to wait for the final acknowledgement (default 5000).

  Returns `:ok`, `{:error, [{route, %Linx.Netlink.Error{}}]}` listing every route that
  failed (in input order; the others were added), or `{:error, %Linx.Netlink.Error{}}`
  when the socket itself failed (then an unknown number were added).

      routes = for i <- 1..100_000, do: {Linx.IP.from_tuple({10, 1, div(i, 256), rem(i, 256)}), 32, nil}
      :ok = Route.add_many(sock, routes, dev: "v0", table: 100)

  On a transport other than a `Linx.Netlink.Socket` the requests are sent one at a time.
  """
  @spec add_many(Socket.t(), Enumerable.t(), keyword()) ::
          :ok | {:error, [{spec(), Error.t()}]} | {:error, Error.t()}
  def add_many(sock, routes, opts \\ []) when is_transport(sock),
    do: many(sock, :add_route, routes, opts)

  @doc """
  Deletes many routes the way `add_many/3` adds them (`RTM_DELROUTE`, one
  acknowledgement at the end, every failure reported). Each route is a `%Route{}` (as
  `list/2` returned it, matched as `delete/2` does) or a `{destination, prefix,
  gateway}` / `{destination, prefix, gateway, opts}` tuple matched as `delete/5` does.
  """
  @spec delete_many(Socket.t(), Enumerable.t(), keyword()) ::
          :ok | {:error, [{spec(), Error.t()}]} | {:error, Error.t()}
  def delete_many(sock, routes, opts \\ []) when is_transport(sock),
    do: many(sock, :delete_route, routes, opts)

  defp many(sock, op, routes, opts) do
    {batch_opts, route_opts} = Keyword.split(opts, [:per_send, :timeout])
    check_opts!(route_opts)
    {type, flags} = Map.fetch!(@verbs, op)
    routes = Enum.to_list(routes)

    with {:ok, nil, route_opts, cache} <- resolve_devs(sock, nil, route_opts, %{}),
         {:ok, payloads} <- encode_many(sock, op, routes, route_opts, cache) do
      messages = Enum.map(payloads, &{type, flags, &1})

      case Batch.run(sock, messages, Keyword.put(batch_opts, :operation, op)) do
        {:ok, []} ->
          :ok

        {:ok, failures} ->
          routes = List.to_tuple(routes)

          {:error,
           for {index, error} <- failures do
             route = elem(routes, index)
             {route, %{error | object: spec_object(route)}}
           end}

        {:error, _} = error ->
          error
      end
    end
  end

  defp spec_object(%__MODULE__{} = r), do: object(r)

  defp spec_object(spec) do
    case elem(spec, 0) do
      %IP{} = dst -> %Subnet{address: dst, prefix: elem(spec, 1)}
      dst -> "#{dst}/#{elem(spec, 1)}"
    end
  end

  # Encodes every route. Routes that differ only in destination and gateway share one
  # template per {family, gateway?}: the options are checked and encoded once, and each
  # route adds only its prefix length and two attributes to a copy of the template.
  defp encode_many(sock, op, routes, opts, cache) do
    Enum.reduce_while(routes, {[], %{}, cache}, fn spec, {acc, templates, cache} ->
      case encode_spec(sock, op, spec, opts, templates, cache) do
        {:ok, payload, templates, cache} -> {:cont, {[payload | acc], templates, cache}}
        {:error, _} = error -> {:halt, error}
      end
    end)
    |> case do
      {:error, _} = error -> error
      {acc, _templates, _cache} -> {:ok, :lists.reverse(acc)}
    end
  end

  defp encode_spec(_sock, :delete_route, %__MODULE__{} = r, _opts, t, c),
    do: {:ok, encode(delete_key(r)), t, c}

  defp encode_spec(_sock, _op, %__MODULE__{} = r, _opts, t, c), do: {:ok, encode(r), t, c}

  defp encode_spec(sock, op, {dst, prefix, gw}, opts, templates, cache) do
    dst = ip!(:destination, dst)
    gw = if gw == nil, do: nil, else: ip!(:gateway, gw)

    if dst.zone != nil or (gw != nil and gw.zone != nil) do
      encode_spec(sock, op, {dst, prefix, gw, []}, opts, templates, cache)
    else
      key = {dst.family, gw != nil}

      {template, templates} =
        case templates do
          %{^key => t} -> {t, templates}
          _ -> new_template(op, key, opts, templates)
        end

      prefix!(dst.family, prefix)
      if gw, do: same_family!(:gateway, gw, dst.family)
      <<fam, _len, header_rest::binary>> = template

      payload = [
        <<fam, prefix, header_rest::binary>>,
        <<byte_size(dst.bytes) + 4::native-16, 1::native-16>>,
        dst.bytes
        | if(gw,
            do: [<<byte_size(gw.bytes) + 4::native-16, 5::native-16>>, gw.bytes],
            else: []
          )
      ]

      {:ok, payload, templates, cache}
    end
  end

  defp encode_spec(sock, op, {dst, prefix, gw, own}, opts, templates, cache) when is_list(own) do
    check_opts!(own)
    gw = if gw == nil, do: nil, else: ip!(:gateway, gw)
    # the route's own interface replaces the shared one
    opts = if dev_opt(own) != nil or zoned?(gw), do: Keyword.drop(opts, [:dev, :oif]), else: opts

    with {:ok, gw, own, cache} <- resolve_devs(sock, gw, own, cache) do
      {:ok, route} = build_op(op, dst, prefix, gw, Keyword.merge(opts, own))
      {:ok, encode(route), templates, cache}
    end
  end

  defp encode_spec(_sock, _op, other, _opts, _templates, _cache) do
    raise ArgumentError,
          "a route is {dst, prefix, gateway}, {dst, prefix, gateway, opts} or %Route{}, " <>
            "got: #{inspect(other)}"
  end

  defp zoned?(%IP{zone: zone}), do: zone != nil
  defp zoned?(_), do: false

  defp new_template(op, {family, gw?} = key, opts, templates) do
    zero = if family == :inet, do: <<0::32>>, else: <<0::128>>
    dst = %IP{family: family, bytes: zero}
    {:ok, route} = build_op(op, dst, 0, if(gw?, do: dst), opts)
    template = encode(%{route | dst: nil, gateway: nil})
    {template, Map.put(templates, key, template)}
  end

  # --- messages -------------------------------------------------------------------------

  @doc false
  # A route from an RTM_NEWROUTE/RTM_DELROUTE message, nil for any other message.
  @spec decode_message(Message.t()) :: t() | nil
  def decode_message(%Message{type: type, payload: payload})
      when type in [@rtm_newroute, @rtm_delroute],
      do: decode_fast(payload)

  def decode_message(_), do: nil

  defimpl Inspect do
    alias Linx.Netlink.Rtnl.Route

    def inspect(%Route{} = r, _opts) do
      table = Route.target_table(r)
      type = Route.type_name(r)
      scope = Route.scope_name(r)

      parts =
        [
          type not in [:unicast, nil] && to_string(type),
          destination(r),
          r.src && "from #{r.src}/#{r.src_len}",
          r.gateway && "via #{r.gateway}",
          r.via && via(r.via),
          r.nh_id && "nhid=#{r.nh_id}",
          r.oif && "oif=#{r.oif}",
          is_list(r.multipath) && "nexthops=[#{Enum.map_join(r.multipath, ", ", &path/1)}]",
          table != 254 && "table=#{table}",
          r.priority && "metric=#{r.priority}",
          is_integer(r.protocol) and r.protocol != 3 and "proto=#{r.protocol}",
          scope not in [:universe, nil] && "scope=#{scope}",
          r.prefsrc && "prefsrc=#{r.prefsrc}"
        ]
        |> Enum.filter(&is_binary/1)

      "#Linx.Netlink.Rtnl.Route<" <> Enum.join(parts, " ") <> ">"
    end

    defp destination(%Route{dst_len: 0, dst: dst}) when dst == nil, do: "default"

    defp destination(%Route{dst_len: 0, dst: %Linx.IP{bytes: bytes}}) do
      if bytes in [<<0::32>>, <<0::128>>], do: "default", else: "?"
    end

    defp destination(%Route{dst: %Linx.IP{} = dst, dst_len: len}), do: "#{dst}/#{len}"
    defp destination(_), do: "?"

    defp via(%Linx.IP{family: family} = ip), do: "via #{family} #{ip}"
    defp via({family, bytes}), do: "via family=#{family} #{Base.encode16(bytes)}"

    defp path(p) do
      [p.gateway && "via #{p.gateway}", "oif=#{p.oif}", p.weight != 1 && "weight=#{p.weight}"]
      |> Enum.filter(&is_binary/1)
      |> Enum.join(" ")
    end
  end
end
