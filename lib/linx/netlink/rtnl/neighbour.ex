defmodule Linx.Netlink.Rtnl.Neighbour.CacheInfo do
  @moduledoc """
  `struct nda_cacheinfo` (`/usr/include/linux/neighbour.h`, `NDA_CACHEINFO`): how long
  ago the entry was last confirmed, used and updated, in clock ticks (`USER_HZ`, 100 per
  second), and its reference count.
  """

  defstruct [:confirmed, :used, :updated, :refcnt]

  @type t :: %__MODULE__{
          confirmed: non_neg_integer(),
          used: non_neg_integer(),
          updated: non_neg_integer(),
          refcnt: non_neg_integer()
        }

  @doc "Decodes the 16-byte struct; anything shorter is nil."
  @spec decode(binary()) :: t() | nil
  def decode(<<c::native-32, u::native-32, up::native-32, r::native-32, _::binary>>),
    do: %__MODULE__{confirmed: c, used: u, updated: up, refcnt: r}

  def decode(_), do: nil

  @doc "Encodes the struct (nil fields as 0)."
  @spec encode(t()) :: binary()
  def encode(%__MODULE__{} = c) do
    <<c.confirmed || 0::native-32, c.used || 0::native-32, c.updated || 0::native-32,
      c.refcnt || 0::native-32>>
  end
end

defmodule Linx.Netlink.Rtnl.Neighbour do
  @moduledoc """
  Neighbour (ARP and NDP) entries: `RTM_NEWNEIGH`/`RTM_DELNEIGH`/`RTM_GETNEIGH`
  messages (`struct ndmsg` plus `NDA_*` attributes, `/usr/include/linux/neighbour.h`),
  as `ip neigh` shows and changes them.

      {:ok, sock} = Linx.Netlink.Rtnl.open()
      :ok = Linx.Netlink.Rtnl.Neighbour.add(sock, "eth0", "10.0.0.1", "02:00:00:00:00:01")
      :ok = Linx.Netlink.Rtnl.Neighbour.add(sock, "eth0", "fd00::9", nil, proxy: true)
      {:ok, entries} = Linx.Netlink.Rtnl.Neighbour.list(sock, "eth0")

  The link is a name or an ifindex, the address a string or `%Linx.IP{}`, the link-layer
  address a string or `%Linx.MAC{}`. Kernel failures are
  `{:error, %Linx.Netlink.Error{}}` naming the operation and the object; caller mistakes
  raise `ArgumentError` naming the value.

  ## Fields

  Header: `family` (2 IPv4/ARP, 10 IPv6/NDP, 7 bridge FDB), `ifindex`, `state` (the
  `NUD_*` bits, see `state_names/1`), `flags` (`NTF_*`, see `flag_names/1`) and `type`.
  Attributes: `dst`, `lladdr` (a `%Linx.MAC{}`, or the raw bytes of another length),
  `cacheinfo` (`Linx.Netlink.Rtnl.Neighbour.CacheInfo`), `probes`, and for bridge and
  VXLAN forwarding entries `vlan`, `port`, `vni`, `via_ifindex` (`NDA_IFINDEX`),
  `master`, `link_netnsid`, `src_vni`, `nh_id`, `fdb_ext_attrs` (raw); `protocol`
  (who installed it), `flags_ext` (`NTF_EXT_*`), `ndm_state_mask`, `ndm_flags_mask`.
  """

  use Linx.Netlink.Codec

  import Bitwise
  import Linx.Netlink.Constants
  import Linx.Netlink.Request, only: [is_transport: 1]

  alias Linx.IP
  alias Linx.Netlink.{Error, Message, Request}
  alias Linx.Netlink.Rtnl.Link

  # /usr/include/linux/rtnetlink.h
  @rtm_newneigh 28
  @rtm_delneigh 29
  @rtm_getneigh 30
  @rtn_unicast 1

  # /usr/include/x86_64-linux-gnu/bits/socket.h
  @af_inet 2
  @af_inet6 10
  @af_bridge 7

  codec do
    header do
      field :family, :u8
      pad 3
      field :ifindex, :s32
      field :state, :u16
      field :flags, :u8
      field :type, :u8
    end

    # /usr/include/linux/neighbour.h, enum NDA_*
    attr 1, :dst, Linx.IP
    attr 2, :lladdr, Linx.Netlink.Rtnl.HwAddr
    attr 3, :cacheinfo, Linx.Netlink.Rtnl.Neighbour.CacheInfo
    attr 4, :probes, :u32
    attr 5, :vlan, :u16
    attr 6, :port, :be16
    attr 7, :vni, :u32
    attr 8, :via_ifindex, :u32
    attr 9, :master, :u32
    attr 10, :link_netnsid, :s32
    attr 11, :src_vni, :u32
    attr 12, :protocol, :u8
    attr 13, :nh_id, :u32
    attr 14, :fdb_ext_attrs, :binary
    attr 15, :flags_ext, :u32
    attr 16, :ndm_state_mask, :u16
    attr 17, :ndm_flags_mask, :u8
  end

  # /usr/include/linux/neighbour.h, NUD_* (NUD_NONE is 0)
  @states [
    incomplete: 0x01,
    reachable: 0x02,
    stale: 0x04,
    delay: 0x08,
    probe: 0x10,
    failed: 0x20,
    noarp: 0x40,
    permanent: 0x80
  ]

  # /usr/include/linux/neighbour.h, NTF_* (header) and NTF_EXT_* (NDA_FLAGS_EXT)
  @flags [
    use: 0x01,
    self: 0x02,
    master: 0x04,
    proxy: 0x08,
    extern_learn: 0x10,
    offloaded: 0x20,
    sticky: 0x40,
    router: 0x80
  ]
  @ntf_ext_managed 0x01

  # /usr/include/linux/rtnetlink.h, RTPROT_* (NDA_PROTOCOL uses the route protocol values)
  @protocols [
    unspec: 0,
    redirect: 1,
    kernel: 2,
    boot: 3,
    static: 4,
    ra: 9,
    dhcp: 16,
    zebra: 11,
    bird: 12,
    keepalived: 18,
    babel: 42,
    bgp: 186,
    isis: 187,
    ospf: 188,
    rip: 189
  ]

  @add_opts [:state, :proxy, :router, :managed, :extern_learn, :protocol, :replace]

  @typedoc "A link: its name or its ifindex."
  @type link :: String.t() | pos_integer()

  @typedoc "An IP address as a string or a `Linx.IP`."
  @type address :: String.t() | IP.t()

  @typedoc "A neighbour state (`NUD_*`)."
  @type state ::
          :none
          | :incomplete
          | :reachable
          | :stale
          | :delay
          | :probe
          | :failed
          | :noarp
          | :permanent

  @typedoc """
  Options of `add/5`:

    * `:state` — the NUD state (default `:permanent`): `:permanent`, `:noarp`,
      `:reachable`, `:stale`, `:delay`, `:probe`, `:incomplete`, `:failed`, `:none`;
    * `:proxy` — `true` for a proxy ARP/NDP entry (`ip neigh add proxy ADDR dev LINK`):
      the host answers for that address; no link-layer address is needed. The kernel
      creates proxy entries without an exclusive check, so adding an existing one
      succeeds;
    * `:router` — `true` to mark the neighbour as a router (`NTF_ROUTER`, IPv6);
    * `:managed` — `true` for a kernel-managed entry kept reachable (`NTF_EXT_MANAGED`;
      the state is then `:none` and no link-layer address is needed);
    * `:extern_learn` — `true` for an externally learned entry (`NTF_EXT_LEARNED`);
    * `:protocol` — `NDA_PROTOCOL`, the installer: 0..255 or `:static`, `:boot`, ...;
    * `:replace` — `true` to create or overwrite the entry (`ip neigh replace`),
      including one the kernel learned, instead of failing with `:eexist`.
  """
  @type add_opts :: [
          state: state(),
          proxy: boolean(),
          router: boolean(),
          managed: boolean(),
          extern_learn: boolean(),
          protocol: atom() | 0..255,
          replace: boolean()
        ]

  @typedoc """
  Options of `list/2`: `:link` (only entries on that link), `:family` (`:inet`,
  `:inet6`, or `:bridge` for the bridge forwarding database, which a plain dump leaves
  out) and `:proxy` (`true` to list the proxy entries, which a plain dump leaves out
  too).
  """
  @type list_opts :: [
          link: link(),
          family: :inet | :inet6 | :bridge,
          proxy: boolean()
        ]

  @typedoc "Something the verbs accept as their first argument (a socket or a connection)."
  @type transport :: Linx.Netlink.Request.transport()

  # --- reading ---------------------------------------------------------------------------

  @doc """
  Every neighbour entry in the socket's netns, ARP and NDP (`RTM_GETNEIGH` dump, like
  `ip neigh show nud all`); proxy entries are listed by `list(sock, proxy: true)`.
  Unprivileged.
  """
  @spec list(transport()) :: {:ok, [t()]} | {:error, Error.t()}
  def list(sock) when is_transport(sock), do: list(sock, [])

  @doc """
  The entries of one link (a name or an ifindex), or those selected by
  `t:list_opts/0`. The link filter goes to the kernel (`NDA_IFINDEX` in the request)
  and is applied again to the replies.
  """
  @spec list(transport(), link() | list_opts()) :: {:ok, [t()]} | {:error, Error.t()}
  def list(sock, opts) when is_transport(sock) and is_list(opts) do
    opts = list_opts!(opts)

    with {:ok, index} <- resolve(sock, opts.link, :list_neighbours) do
      request = %__MODULE__{
        family: opts.family,
        flags: if(opts.proxy, do: Keyword.fetch!(@flags, :proxy), else: 0),
        via_ifindex: index
      }

      Request.fold(
        sock,
        @rtm_getneigh,
        nlm_f_dump(),
        encode(request),
        [],
        fn msg, acc ->
          case decode_message(msg) do
            %__MODULE__{} = n when index == nil or n.ifindex == index -> [n | acc]
            _ -> acc
          end
        end,
        operation: :list_neighbours,
        object: opts.link || sock.netns
      )
      |> case do
        {:ok, entries} -> {:ok, Enum.reverse(entries)}
        error -> error
      end
    end
  end

  def list(sock, link) when is_transport(sock), do: list(sock, link: link)

  defp list_opts!(opts) do
    Enum.reduce(opts, %{link: nil, family: 0, proxy: false}, fn
      {:link, link}, acc -> %{acc | link: Link.validate_ref!(link)}
      {:family, :inet}, acc -> %{acc | family: @af_inet}
      {:family, :inet6}, acc -> %{acc | family: @af_inet6}
      {:family, :bridge}, acc -> %{acc | family: @af_bridge}
      {:proxy, p}, acc when is_boolean(p) -> %{acc | proxy: p}
      other, _ -> raise ArgumentError, "invalid option for Neighbour.list/2: #{inspect(other)}"
    end)
  end

  # --- writing ---------------------------------------------------------------------------

  @doc """
  Adds a permanent entry `ip` -> `mac` on `link` (`RTM_NEWNEIGH` with `NLM_F_CREATE |
  NLM_F_EXCL`, like `ip neigh add IP lladdr MAC dev LINK nud permanent`). Any existing
  entry for `ip` on the link, even one the kernel learned, is `:eexist`; use
  `add/5` with `replace: true` to overwrite it.
  """
  @spec add(transport(), link(), address(), String.t() | Linx.MAC.t()) ::
          :ok | {:error, Error.t()}
  def add(sock, link, ip, mac) when is_transport(sock), do: add(sock, link, ip, mac, [])

  @doc """
  Adds an entry with options (see `t:add_opts/0`). `mac` may be nil for proxy and
  managed entries, for links without link-layer addresses, and when replacing an
  entry whose address is kept; otherwise the kernel refuses a new valid entry
  without one (`:einval`).

      Neighbour.add(sock, "eth0", "10.0.0.2", "02:00:00:00:00:02", state: :reachable, replace: true)
      Neighbour.add(sock, "eth0", "10.0.0.9", nil, proxy: true)
      Neighbour.add(sock, "eth0", "fe80::1", "02:00:00:00:00:01", router: true, state: :stale)
  """
  @spec add(transport(), link(), address(), String.t() | Linx.MAC.t() | nil, add_opts()) ::
          :ok | {:error, Error.t()}
  def add(sock, link, ip, mac, opts) when is_transport(sock) and is_list(opts) do
    _ = Link.validate_ref!(link)
    request = build(0, ip, mac, opts)

    flags =
      if Keyword.get(opts, :replace, false),
        do: nlm_f_create() ||| nlm_f_replace() ||| nlm_f_ack(),
        else: nlm_f_create() ||| nlm_f_excl() ||| nlm_f_ack()

    with {:ok, index} <- resolve(sock, link, :add_neighbour) do
      sock
      |> Request.talk(@rtm_newneigh, flags, encode(%{request | ifindex: index}),
        operation: :add_neighbour,
        object: {link, IP.to_string(request.dst)}
      )
      |> ack(link)
    end
  end

  @doc false
  # The RTM_NEWNEIGH body for `add/5` on ifindex `index`; raises ArgumentError for bad
  # input. Pure (used by add/5 and the golden-byte tests).
  @spec build(non_neg_integer(), address(), String.t() | Linx.MAC.t() | nil, add_opts()) ::
          t()
  def build(index, ip, mac, opts) do
    for opt <- opts, not match?({key, _} when key in @add_opts, opt) do
      raise ArgumentError, "invalid option for Neighbour.add/5: #{inspect(opt)}"
    end

    for key <- [:proxy, :router, :managed, :extern_learn, :replace],
        Keyword.has_key?(opts, key),
        not is_boolean(opts[key]) do
      raise ArgumentError,
            "invalid #{inspect(key)} option #{inspect(opts[key])}: expected a boolean"
    end

    dst = IP.unzoned!(ip, "neighbour address")
    managed? = Keyword.get(opts, :managed, false)
    # A managed entry starts with no state, as `ip neigh add ... managed` sends it.
    state = state_value(Keyword.get(opts, :state, if(managed?, do: :none, else: :permanent)))
    lladdr = parse_mac!(mac)

    flags =
      Enum.reduce([proxy: :proxy, router: :router, extern_learn: :extern_learn], 0, fn
        {opt, flag}, acc ->
          if Keyword.get(opts, opt, false), do: acc ||| Keyword.fetch!(@flags, flag), else: acc
      end)

    %__MODULE__{
      family: family_number(dst.family),
      ifindex: index,
      state: state,
      flags: flags,
      type: @rtn_unicast,
      dst: dst,
      lladdr: lladdr,
      flags_ext: if(managed?, do: @ntf_ext_managed),
      protocol: protocol!(Keyword.get(opts, :protocol))
    }
  end

  @doc """
  Removes the entry for `ip` on `link` (`RTM_DELNEIGH`, like `ip neigh del IP dev
  LINK`). A missing entry is `{:error, %Linx.Netlink.Error{errno: :enoent}}`.
  """
  @spec delete(transport(), link(), address()) :: :ok | {:error, Error.t()}
  def delete(sock, link, ip) when is_transport(sock), do: delete(sock, link, ip, [])

  @doc "Like `delete/3`; `proxy: true` removes a proxy entry instead."
  @spec delete(transport(), link(), address(), proxy: boolean()) :: :ok | {:error, Error.t()}
  def delete(sock, link, ip, opts) when is_transport(sock) and is_list(opts) do
    _ = Link.validate_ref!(link)

    proxy? =
      Enum.reduce(opts, false, fn
        {:proxy, p}, _ when is_boolean(p) ->
          p

        other, _ ->
          raise ArgumentError, "invalid option for Neighbour.delete/4: #{inspect(other)}"
      end)

    dst = IP.unzoned!(ip, "neighbour address")

    request = %__MODULE__{
      family: family_number(dst.family),
      flags: if(proxy?, do: Keyword.fetch!(@flags, :proxy), else: 0),
      dst: dst
    }

    with {:ok, index} <- resolve(sock, link, :delete_neighbour) do
      sock
      |> Request.talk(@rtm_delneigh, nlm_f_ack(), encode(%{request | ifindex: index}),
        operation: :delete_neighbour,
        object: {link, IP.to_string(dst)}
      )
      |> ack(link)
    end
  end

  # --- names -----------------------------------------------------------------------------

  @doc """
  The `NUD_*` state bits as atoms (`[:none]` for 0), from an entry or a number.

      iex> Linx.Netlink.Rtnl.Neighbour.state_names(0x82)
      [:reachable, :permanent]
      iex> Linx.Netlink.Rtnl.Neighbour.state_names(%Linx.Netlink.Rtnl.Neighbour{state: 0})
      [:none]
  """
  @spec state_names(t() | non_neg_integer()) :: [state()]
  def state_names(%__MODULE__{state: state}), do: state_names(state || 0)
  def state_names(0), do: [:none]

  def state_names(state) when is_integer(state),
    do: for({name, bit} <- @states, (state &&& bit) != 0, do: name)

  @doc """
  The number of a state atom (or the OR of a list of them). Raises `ArgumentError`
  naming an unknown state.

      iex> Linx.Netlink.Rtnl.Neighbour.state_value(:stale)
      4
      iex> Linx.Netlink.Rtnl.Neighbour.state_value([:noarp, :permanent])
      192
  """
  @spec state_value(state() | [state()]) :: non_neg_integer()
  def state_value(:none), do: 0

  def state_value(states) when is_list(states),
    do: Enum.reduce(states, 0, &(state_value(&1) ||| &2))

  def state_value(state) do
    case is_atom(state) && Keyword.fetch(@states, state) do
      {:ok, bit} ->
        bit

      _ ->
        raise ArgumentError,
              "invalid neighbour state #{inspect(state)}: expected :none or one of #{inspect(Keyword.keys(@states))}"
    end
  end

  @doc """
  The entry's flags as atoms: the `NTF_*` header bits (`:proxy`, `:router`,
  `:extern_learn`, `:self`, `:master`, ...) and `:managed` from `NDA_FLAGS_EXT`.

      iex> Linx.Netlink.Rtnl.Neighbour.flag_names(%Linx.Netlink.Rtnl.Neighbour{flags: 0x88, flags_ext: 1})
      [:proxy, :router, :managed]
  """
  @spec flag_names(t()) :: [atom()]
  def flag_names(%__MODULE__{flags: flags, flags_ext: ext}) do
    flags = flags || 0
    names = for {name, bit} <- @flags, (flags &&& bit) != 0, do: name
    if is_integer(ext) and (ext &&& @ntf_ext_managed) != 0, do: names ++ [:managed], else: names
  end

  @doc "Whether this is a proxy entry (`NTF_PROXY`)."
  @spec proxy?(t()) :: boolean()
  def proxy?(%__MODULE__{flags: flags}) when is_integer(flags), do: (flags &&& 0x08) != 0
  def proxy?(%__MODULE__{}), do: false

  @doc false
  # A reply or event message to a neighbour, or nil when it is not a neighbour message.
  @spec decode_message(Message.t()) :: t() | nil
  def decode_message(%Message{type: type, payload: payload})
      when type in [@rtm_newneigh, @rtm_delneigh],
      do: decode(payload)

  def decode_message(_), do: nil

  # --- plumbing --------------------------------------------------------------------------

  defp parse_mac!(nil), do: nil
  defp parse_mac!(%Linx.MAC{bytes: <<_::48>>} = mac), do: mac

  defp parse_mac!(text) when is_binary(text) do
    case Linx.MAC.parse(text) do
      {:ok, mac} -> mac
      {:error, _} -> raise ArgumentError, "invalid link-layer address #{inspect(text)}"
    end
  end

  defp parse_mac!(other),
    do:
      raise(
        ArgumentError,
        "invalid link-layer address #{inspect(other)}: expected a string or a %Linx.MAC{}"
      )

  defp protocol!(nil), do: nil
  defp protocol!(p) when is_integer(p) and p in 0..255, do: p

  defp protocol!(p) when is_atom(p) do
    Keyword.get(@protocols, p) ||
      raise ArgumentError,
            "invalid neighbour protocol #{inspect(p)}: expected 0..255 or one of #{inspect(Keyword.keys(@protocols))}"
  end

  defp protocol!(p), do: raise(ArgumentError, "invalid neighbour protocol #{inspect(p)}")

  defp resolve(_sock, nil, _op), do: {:ok, nil}
  defp resolve(sock, link, op), do: Link.resolve(sock, link, op)

  defp ack({:ok, _}, _link), do: :ok
  defp ack(error, link), do: Link.name_missing(error, link)

  defp family_number(:inet), do: @af_inet
  defp family_number(:inet6), do: @af_inet6

  defimpl Inspect do
    def inspect(n, _opts) do
      dst = if match?(%Linx.IP{}, n.dst), do: Linx.IP.to_string(n.dst), else: "?"

      lladdr =
        case n.lladdr do
          %Linx.MAC{} = mac -> " -> " <> Linx.MAC.to_string(mac)
          bin when is_binary(bin) and bin != "" -> " -> " <> hex(bin)
          _ -> ""
        end

      "#Linx.Netlink.Rtnl.Neighbour<#{dst}#{lladdr} ifindex=#{n.ifindex}>"
    end

    defp hex(bin), do: bin |> :binary.bin_to_list() |> Enum.map_join(":", &hex2/1)

    defp hex2(b),
      do: b |> Integer.to_string(16) |> String.downcase() |> String.pad_leading(2, "0")
  end
end
