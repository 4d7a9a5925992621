defmodule Linx.Netlink.Rtnl.Address.CacheInfo do
  @moduledoc """
  `struct ifa_cacheinfo` (`/usr/include/linux/if_addr.h`, `IFA_CACHEINFO`): an address's
  lifetimes in seconds (`0xFFFFFFFF` is forever) and its creation and last-update times
  in hundredths of a second since boot.
  """

  defstruct [:preferred_lft, :valid_lft, :created, :updated]

  @type t :: %__MODULE__{
          preferred_lft: non_neg_integer(),
          valid_lft: non_neg_integer(),
          created: non_neg_integer(),
          updated: non_neg_integer()
        }

  @doc "Decodes the 16-byte struct; anything else is nil."
  @spec decode(binary()) :: t() | nil
  def decode(<<p::native-32, v::native-32, c::native-32, u::native-32, _::binary>>),
    do: %__MODULE__{preferred_lft: p, valid_lft: v, created: c, updated: u}

  def decode(_), do: nil

  @doc "Encodes the struct (nil fields as 0)."
  @spec encode(t()) :: binary()
  def encode(%__MODULE__{} = c) do
    <<c.preferred_lft || 0::native-32, c.valid_lft || 0::native-32, c.created || 0::native-32,
      c.updated || 0::native-32>>
  end
end

defmodule Linx.Netlink.Rtnl.Address do
  @moduledoc """
  Interface addresses: `RTM_NEWADDR`/`RTM_DELADDR`/`RTM_GETADDR` messages
  (`struct ifaddrmsg` plus `IFA_*` attributes, `/usr/include/linux/if_addr.h`), as
  `ip addr` shows and changes them. IPv4 and IPv6.

      {:ok, sock} = Linx.Netlink.Rtnl.open()
      :ok = Linx.Netlink.Rtnl.Address.add(sock, "eth0", "10.0.0.5", 24, broadcast: :auto)
      {:ok, addrs} = Linx.Netlink.Rtnl.Address.list(sock, "eth0")
      :ok = Linx.Netlink.Rtnl.Address.delete(sock, "eth0", "10.0.0.5", 24)

  Every verb takes the link as a name or an ifindex (an ifindex costs no extra round
  trip), the address as a string or a `%Linx.IP{}`. Kernel failures are
  `{:error, %Linx.Netlink.Error{}}` naming the operation and the object; caller mistakes
  (a prefix out of range, a malformed address, an unknown option) raise `ArgumentError`
  naming the value.

  ## Fields

  Header: `family` (2 = IPv4, 10 = IPv6), `prefixlen`, `flags` (the 8-bit
  `ifa_flags`), `scope` (0 universe, 200 site, 253 link, 254 host) and `index` (the
  ifindex). Attributes:

    * `address` (`IFA_ADDRESS`) and `local` (`IFA_LOCAL`): for an ordinary IPv4 address
      both are the address; on a point-to-point address `address` is the peer. IPv6
      addresses usually carry only `address`.
    * `label` (`IFA_LABEL`, IPv4 only), `broadcast`, `anycast`, `multicast`;
    * `cacheinfo` (`IFA_CACHEINFO`), a `Linx.Netlink.Rtnl.Address.CacheInfo` with the
      lifetimes (see `valid_lft/1` and `preferred_lft/1`);
    * `extended_flags` (`IFA_FLAGS`, the full 32-bit flag word; when present it
      supersedes `flags`, see `flag_names/1`);
    * `rt_priority` (`IFA_RT_PRIORITY`, the metric of the prefix route),
      `target_netnsid` and `proto` (`IFA_PROTO`, who created the address).
  """

  use Linx.Netlink.Codec

  import Bitwise
  import Linx.Netlink.Constants
  import Linx.Netlink.Request, only: [is_transport: 1]

  alias Linx.IP
  alias Linx.IP.Subnet
  alias Linx.Netlink.{Error, Message, Request}
  alias Linx.Netlink.Rtnl.Address.CacheInfo
  alias Linx.Netlink.Rtnl.Link

  # /usr/include/linux/rtnetlink.h
  @rtm_newaddr 20
  @rtm_deladdr 21
  @rtm_getaddr 22

  # /usr/include/x86_64-linux-gnu/bits/socket.h
  @af_inet 2
  @af_inet6 10

  codec do
    header do
      field :family, :u8
      field :prefixlen, :u8
      field :flags, :u8
      field :scope, :u8
      field :index, :u32
    end

    # /usr/include/linux/if_addr.h, enum IFA_*
    attr 1, :address, Linx.IP
    attr 2, :local, Linx.IP
    attr 3, :label, :string
    attr 4, :broadcast, Linx.IP
    attr 5, :anycast, Linx.IP
    attr 6, :cacheinfo, Linx.Netlink.Rtnl.Address.CacheInfo
    attr 7, :multicast, Linx.IP
    attr 8, :extended_flags, :u32
    attr 9, :rt_priority, :u32
    attr 10, :target_netnsid, :s32
    attr 11, :proto, :u8
  end

  # /usr/include/linux/if_addr.h, IFA_F_* (IFA_F_TEMPORARY is IFA_F_SECONDARY on IPv6).
  # The names are the ones `ip addr` prints and accepts.
  @ifa_flags [
    secondary: 0x01,
    nodad: 0x02,
    optimistic: 0x04,
    dadfailed: 0x08,
    home: 0x10,
    deprecated: 0x20,
    tentative: 0x40,
    permanent: 0x80,
    mngtmpaddr: 0x100,
    noprefixroute: 0x200,
    autojoin: 0x400,
    stable_privacy: 0x800
  ]

  # The flags a caller may set; the others are state the kernel reports. The IPv4 code
  # only honours noprefixroute and autojoin, the rest are IPv6 address-configuration
  # flags (iproute2 marks them v6only too).
  @settable_flags [:nodad, :optimistic, :home, :mngtmpaddr, :noprefixroute, :autojoin]
  @v4_flags [:noprefixroute, :autojoin]

  # /usr/include/linux/rtnetlink.h, enum rt_scope_t
  @scopes [universe: 0, site: 200, link: 253, host: 254, nowhere: 255]

  # /usr/include/linux/if_addr.h, IFAPROT_*
  @protocols [unspec: 0, kernel_lo: 1, kernel_ra: 2, kernel_ll: 3]

  @infinity 0xFFFFFFFF

  @add_opts [
    :broadcast,
    :label,
    :peer,
    :scope,
    :flags,
    :valid_lft,
    :preferred_lft,
    :metric,
    :replace,
    :protocol
  ]

  @typedoc "A link: its name or its ifindex."
  @type link :: String.t() | pos_integer()

  @typedoc "An address: a string such as `\"10.0.0.5\"` or `\"fd00::1\"`, or a `Linx.IP`."
  @type address :: String.t() | IP.t()

  @typedoc "A lifetime in seconds, or `:forever`."
  @type lifetime :: non_neg_integer() | :forever

  @typedoc """
  Options of `add/5`:

    * `:broadcast` — an IPv4 broadcast address, or `:auto` to derive it from the prefix
      (`ip addr add ... brd +`; nothing for /31 and /32);
    * `:label` — an IPv4 label such as `"eth0:1"` (at most 15 bytes);
    * `:peer` — the remote end of a point-to-point address (`ip addr add A peer B`); the
      prefix then applies to the peer;
    * `:scope` — `:universe`, `:site`, `:link`, `:host`, `:nowhere` or 0..255;
    * `:flags` — a list of `:nodad`, `:optimistic`, `:home`, `:mngtmpaddr` (IPv6 only),
      `:noprefixroute`, `:autojoin`;
    * `:valid_lft`, `:preferred_lft` — seconds or `:forever` (the default). Giving only
      `:valid_lft` makes the preferred lifetime the same;
    * `:metric` — the metric of the prefix route the kernel adds (`IFA_RT_PRIORITY`);
    * `:protocol` — `IFA_PROTO`: `:unspec`, `:kernel_lo`, `:kernel_ra`, `:kernel_ll` or
      0..255;
    * `:replace` — `true` to create or update the address (`ip addr replace`) instead
      of failing with `:eexist`.
  """
  @type add_opts :: [
          broadcast: address() | :auto,
          label: String.t(),
          peer: address(),
          scope: atom() | 0..255,
          flags: [atom()],
          valid_lft: lifetime(),
          preferred_lft: lifetime(),
          metric: non_neg_integer(),
          protocol: atom() | 0..255,
          replace: boolean()
        ]

  @typedoc "Something the verbs accept as their first argument (a socket or a connection)."
  @type transport :: Linx.Netlink.Request.transport()

  # --- reading ---------------------------------------------------------------------------

  @doc """
  Every address in the socket's netns, IPv4 and IPv6 (`RTM_GETADDR` dump, like
  `ip addr show`). Unprivileged.
  """
  @spec list(transport()) :: {:ok, [t()]} | {:error, Error.t()}
  def list(sock) when is_transport(sock), do: list(sock, [])

  @doc """
  The addresses of one link (`ip addr show dev LINK`), or, given a keyword list, those
  selected by `:link` (a name or an ifindex) and `:family` (`:inet` or `:inet6`).

  The family is filtered by the kernel. The link index goes into the request header,
  where a socket with `NETLINK_GET_STRICT_CHK` makes the kernel filter too; the reply
  is always filtered on the index as well, so the result does not depend on it.
  """
  @spec list(transport(), link() | [link: link(), family: :inet | :inet6]) ::
          {:ok, [t()]} | {:error, Error.t()}
  def list(sock, opts) when is_transport(sock) and is_list(opts) do
    {link, family} = list_opts!(opts)
    family_num = if family, do: family_number(family), else: 0

    with {:ok, index} <- resolve(sock, link, :list_addresses) do
      request = %__MODULE__{family: family_num, index: index || 0}

      Request.fold(
        sock,
        @rtm_getaddr,
        nlm_f_dump(),
        encode(request),
        [],
        fn msg, acc ->
          case decode_message(msg) do
            %__MODULE__{} = a when index == nil or a.index == index -> [a | acc]
            _ -> acc
          end
        end,
        operation: :list_addresses,
        object: link || sock.netns
      )
      |> case do
        {:ok, addrs} -> {:ok, Enum.reverse(addrs)}
        error -> error
      end
    end
  end

  def list(sock, link) when is_transport(sock), do: list(sock, link: link)

  defp list_opts!(opts) do
    Enum.reduce(opts, {nil, nil}, fn
      {:link, link}, {_, family} -> {Link.validate_ref!(link), family}
      {:family, f}, {link, _} when f in [:inet, :inet6] -> {link, f}
      other, _ -> raise ArgumentError, "invalid option for Address.list/2: #{inspect(other)}"
    end)
  end

  # --- writing ---------------------------------------------------------------------------

  @doc """
  Adds `ip/prefix` to `link` (`RTM_NEWADDR` with `NLM_F_CREATE | NLM_F_EXCL`, like
  `ip addr add IP/PREFIX dev LINK`). An address that already exists is
  `{:error, %Linx.Netlink.Error{errno: :eexist}}`. See `add/5` for the options.
  """
  @spec add(transport(), link(), address(), 0..128) :: :ok | {:error, Error.t()}
  def add(sock, link, ip, prefix) when is_transport(sock), do: add(sock, link, ip, prefix, [])

  @doc """
  Adds an address with options (see `t:add_opts/0`); `replace: true` makes it an
  upsert (`ip addr replace`).

      Address.add(sock, "eth0", "10.0.0.5", 24, broadcast: :auto, label: "eth0:web")
      Address.add(sock, "eth0", "fd00::5", 64, flags: [:nodad, :noprefixroute])
      Address.add(sock, "tun0", "10.9.0.1", 32, peer: "10.9.0.2")
      Address.add(sock, 3, "10.0.0.6", 24, valid_lft: 3600, preferred_lft: 1800)
  """
  @spec add(transport(), link(), address(), 0..128, add_opts()) :: :ok | {:error, Error.t()}
  def add(sock, link, ip, prefix, opts) when is_transport(sock) and is_list(opts) do
    _ = Link.validate_ref!(link)
    request = build(0, ip, prefix, opts)

    flags =
      if Keyword.get(opts, :replace, false),
        do: nlm_f_create() ||| nlm_f_replace() ||| nlm_f_ack(),
        else: nlm_f_create() ||| nlm_f_excl() ||| nlm_f_ack()

    object = {link, describe(request)}

    with {:ok, index} <- resolve(sock, link, :add_address) do
      sock
      |> Request.talk(@rtm_newaddr, flags, encode(%{request | index: index}),
        operation: :add_address,
        object: object
      )
      |> ack(link)
    end
  end

  @doc """
  Removes `ip/prefix` from `link` (`RTM_DELADDR`, like `ip addr del IP/PREFIX dev
  LINK`). A missing address is `{:error, %Linx.Netlink.Error{errno: :eaddrnotavail}}`.
  """
  @spec delete(transport(), link(), address(), 0..128) :: :ok | {:error, Error.t()}
  def delete(sock, link, ip, prefix) when is_transport(sock),
    do: delete(sock, link, ip, prefix, [])

  @doc """
  Like `delete/4`; the only option is `:peer`, needed to name a point-to-point address
  (the kernel matches the prefix against the peer).
  """
  @spec delete(transport(), link(), address(), 0..128, peer: address()) ::
          :ok | {:error, Error.t()}
  def delete(sock, link, ip, prefix, opts) when is_transport(sock) and is_list(opts) do
    _ = Link.validate_ref!(link)

    for opt <- opts, not match?({:peer, _}, opt) do
      raise ArgumentError, "invalid option for Address.delete/5: #{inspect(opt)}"
    end

    local = IP.unzoned!(ip, "address")
    check_prefix!(local, prefix)
    peer = if p = opts[:peer], do: same_family!(IP.unzoned!(p, "peer"), local, :peer)

    request = %__MODULE__{
      family: family_number(local.family),
      prefixlen: prefix,
      local: local,
      address: peer || local
    }

    with {:ok, index} <- resolve(sock, link, :delete_address) do
      sock
      |> Request.talk(@rtm_deladdr, nlm_f_ack(), encode(%{request | index: index}),
        operation: :delete_address,
        object: {link, describe(request)}
      )
      |> ack(link)
    end
  end

  @doc false
  # The RTM_NEWADDR body for `ip/prefix` with `add/5` options on ifindex `index`; raises
  # ArgumentError for any bad input. Pure (used by add/5 and the golden-byte tests).
  @spec build(non_neg_integer(), address(), 0..128, add_opts()) :: t()
  def build(index, ip, prefix, opts) do
    for opt <- opts, not match?({key, _} when key in @add_opts, opt) do
      raise ArgumentError, "invalid option for Address.add/5: #{inspect(opt)}"
    end

    check_replace!(opts)
    local = IP.unzoned!(ip, "address")
    check_prefix!(local, prefix)
    v4? = local.family == :inet
    peer = if p = opts[:peer], do: same_family!(IP.unzoned!(p, "peer"), local, :peer)

    broadcast =
      case Keyword.get(opts, :broadcast) do
        nil ->
          nil

        _ when not v4? ->
          raise ArgumentError,
                "IPv6 has no broadcast address (:broadcast given for #{ip_s(local)})"

        :auto when prefix <= 30 ->
          Subnet.broadcast(%Subnet{address: local, prefix: prefix})

        :auto ->
          nil

        other ->
          same_family!(IP.unzoned!(other, "broadcast"), local, :broadcast)
      end

    label =
      case Keyword.get(opts, :label) do
        nil ->
          nil

        label when not v4? ->
          raise ArgumentError,
                "labels exist only on IPv4 addresses (label #{inspect(label)} given for #{ip_s(local)})"

        label when is_binary(label) and byte_size(label) in 1..15 ->
          if String.contains?(label, <<0>>),
            do: raise(ArgumentError, "invalid address label #{inspect(label)}: contains NUL"),
            else: label

        label ->
          raise ArgumentError,
                "invalid address label #{inspect(label)}: must be a string of 1 to 15 bytes"
      end

    flags = flag_bits!(Keyword.get(opts, :flags, []), v4?)

    %__MODULE__{
      family: family_number(local.family),
      prefixlen: prefix,
      flags: flags &&& 0xFF,
      scope: scope!(Keyword.get(opts, :scope, 0)),
      index: index,
      local: local,
      address: peer || local,
      label: label,
      broadcast: broadcast,
      cacheinfo: lifetimes!(opts[:valid_lft], opts[:preferred_lft]),
      # IFA_FLAGS only when the flags do not fit the header byte, as iproute2 does
      extended_flags: if(flags > 0xFF, do: flags),
      rt_priority: opt_u32!(opts, :metric),
      proto: protocol!(Keyword.get(opts, :protocol))
    }
  end

  defp check_replace!(opts) do
    case Keyword.get(opts, :replace, false) do
      b when is_boolean(b) ->
        :ok

      other ->
        raise ArgumentError, "invalid :replace option #{inspect(other)}: expected a boolean"
    end
  end

  defp flag_bits!(flags, v4?) when is_list(flags) do
    Enum.reduce(flags, 0, fn
      flag, acc when flag in @settable_flags ->
        if v4? and flag not in @v4_flags do
          raise ArgumentError, "address flag #{inspect(flag)} applies only to IPv6 addresses"
        end

        acc ||| Keyword.fetch!(@ifa_flags, flag)

      flag, _ ->
        raise ArgumentError,
              "invalid address flag #{inspect(flag)}: expected one of #{inspect(@settable_flags)}"
    end)
  end

  defp flag_bits!(flags, _v4?),
    do: raise(ArgumentError, "invalid :flags option #{inspect(flags)}: expected a list of atoms")

  defp lifetimes!(nil, nil), do: nil

  defp lifetimes!(valid, preferred) do
    valid = lifetime!(valid || :forever, :valid_lft, 1)
    preferred = if preferred == nil, do: valid, else: lifetime!(preferred, :preferred_lft, 0)

    if preferred > valid do
      raise ArgumentError,
            "preferred_lft #{preferred} is longer than valid_lft #{valid}"
    end

    %CacheInfo{preferred_lft: preferred, valid_lft: valid, created: 0, updated: 0}
  end

  defp lifetime!(:forever, _key, _min), do: @infinity

  defp lifetime!(n, _key, min) when is_integer(n) and n >= min and n < @infinity, do: n

  defp lifetime!(other, key, min) do
    raise ArgumentError,
          "invalid #{key} #{inspect(other)}: expected :forever or seconds in #{min}..#{@infinity - 1}"
  end

  defp scope!(s) when is_integer(s) and s in 0..255, do: s
  defp scope!(:global), do: 0

  defp scope!(s) when is_atom(s) do
    Keyword.get(@scopes, s) ||
      raise ArgumentError,
            "invalid scope #{inspect(s)}: expected one of #{inspect(Keyword.keys(@scopes))} or 0..255"
  end

  defp scope!(s), do: raise(ArgumentError, "invalid scope #{inspect(s)}")

  defp protocol!(nil), do: nil
  defp protocol!(p) when is_integer(p) and p in 0..255, do: p

  defp protocol!(p) when is_atom(p) do
    Keyword.get(@protocols, p) ||
      raise ArgumentError,
            "invalid address protocol #{inspect(p)}: expected one of #{inspect(Keyword.keys(@protocols))} or 0..255"
  end

  defp protocol!(p), do: raise(ArgumentError, "invalid address protocol #{inspect(p)}")

  defp opt_u32!(opts, key) do
    case Keyword.get(opts, key) do
      nil -> nil
      n when is_integer(n) and n in 0..0xFFFFFFFF -> n
      other -> raise ArgumentError, "invalid #{key} #{inspect(other)}: expected 0..4294967295"
    end
  end

  # --- helpers over decoded addresses --------------------------------------------------------

  @doc """
  The address flags as atoms, from `IFA_FLAGS` when the kernel sent it, else from the
  header byte. On IPv6 the secondary bit reads `:temporary`.

      iex> Linx.Netlink.Rtnl.Address.flag_names(%Linx.Netlink.Rtnl.Address{family: 10, flags: 0x80, extended_flags: 0x280})
      [:permanent, :noprefixroute]
  """
  @spec flag_names(t()) :: [atom()]
  def flag_names(%__MODULE__{} = a) do
    bits = all_flags(a)

    for {name, bit} <- @ifa_flags, (bits &&& bit) != 0 do
      if name == :secondary and a.family == @af_inet6, do: :temporary, else: name
    end
  end

  @doc "The flag word: `IFA_FLAGS` when present, else the header's 8 bits."
  @spec all_flags(t()) :: non_neg_integer()
  def all_flags(%__MODULE__{extended_flags: ext}) when is_integer(ext), do: ext
  def all_flags(%__MODULE__{flags: flags}) when is_integer(flags), do: flags
  def all_flags(%__MODULE__{}), do: 0

  @doc """
  The scope as an atom (`:universe`, `:site`, `:link`, `:host`, `:nowhere`), or the
  number for another value.

      iex> Linx.Netlink.Rtnl.Address.scope_name(%Linx.Netlink.Rtnl.Address{scope: 253})
      :link
  """
  @spec scope_name(t()) :: atom() | non_neg_integer() | nil
  def scope_name(%__MODULE__{scope: s}) do
    case List.keyfind(@scopes, s, 1) do
      {name, _} -> name
      nil -> s
    end
  end

  @doc "The family as `:inet`/`:inet6` (or the number for another family)."
  @spec family_name(t()) :: :inet | :inet6 | non_neg_integer() | nil
  def family_name(%__MODULE__{family: @af_inet}), do: :inet
  def family_name(%__MODULE__{family: @af_inet6}), do: :inet6
  def family_name(%__MODULE__{family: f}), do: f

  @doc "The valid lifetime in seconds, `:forever`, or nil without cacheinfo."
  @spec valid_lft(t()) :: lifetime() | nil
  def valid_lft(%__MODULE__{cacheinfo: %CacheInfo{valid_lft: v}}), do: lft(v)
  def valid_lft(%__MODULE__{}), do: nil

  @doc "The preferred lifetime in seconds, `:forever`, or nil without cacheinfo."
  @spec preferred_lft(t()) :: lifetime() | nil
  def preferred_lft(%__MODULE__{cacheinfo: %CacheInfo{preferred_lft: p}}), do: lft(p)
  def preferred_lft(%__MODULE__{}), do: nil

  defp lft(@infinity), do: :forever
  defp lft(n), do: n

  @doc """
  The interface address with its prefix as a `Linx.IP.Subnet` (`local` when present,
  else `address`), or nil when the message carried neither.
  """
  @spec subnet(t()) :: Subnet.t() | nil
  def subnet(%__MODULE__{} = a) do
    case a.local || a.address do
      %IP{} = ip when is_integer(a.prefixlen) -> %Subnet{address: ip, prefix: a.prefixlen}
      _ -> nil
    end
  end

  @doc false
  # A reply or event message to an address, or nil when it is not an address message.
  @spec decode_message(Message.t()) :: t() | nil
  def decode_message(%Message{type: type, payload: payload})
      when type in [@rtm_newaddr, @rtm_deladdr],
      do: decode(payload)

  def decode_message(_), do: nil

  # --- shared plumbing -------------------------------------------------------------------------

  defp same_family!(%IP{family: f} = ip, %IP{family: f}, _what), do: ip

  defp same_family!(ip, local, what) do
    raise ArgumentError,
          "#{what} #{ip_s(ip)} is not in the family of the address #{ip_s(local)}"
  end

  defp check_prefix!(%IP{family: family}, prefix) do
    max = if family == :inet, do: 32, else: 128

    unless is_integer(prefix) and prefix in 0..max do
      raise ArgumentError,
            "invalid prefix length #{inspect(prefix)} for an #{family} address: expected 0..#{max}"
    end
  end

  defp resolve(_sock, nil, _op), do: {:ok, nil}
  defp resolve(sock, link, op), do: Link.resolve(sock, link, op)

  defp ack({:ok, _}, _link), do: :ok
  defp ack(error, link), do: Link.name_missing(error, link)

  defp family_number(:inet), do: @af_inet
  defp family_number(:inet6), do: @af_inet6

  defp ip_s(%IP{} = ip), do: IP.to_string(ip)

  defp describe(%__MODULE__{local: local, prefixlen: p}), do: "#{ip_s(local)}/#{p}"

  defimpl Inspect do
    alias Linx.Netlink.Rtnl.Address

    def inspect(%Address{} = a, _opts) do
      shown = a.local || a.address

      peer =
        if a.local && a.address && a.local != a.address,
          do: " peer " <> text(a.address),
          else: ""

      "#Linx.Netlink.Rtnl.Address<#{text(shown)}/#{a.prefixlen}#{peer} ifindex=#{a.index}>"
    end

    defp text(%Linx.IP{} = ip), do: Linx.IP.to_string(ip)
    defp text(_), do: "?"
  end
end
